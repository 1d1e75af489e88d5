// Exported policies outside `simlab eval`, run as a user would: `train --randomization none`,
// `gen --policy policy.pt` (deterministic per episode whatever --envs, a layout mismatch exits 2
// naming the field), `eval --randomization heldout`, the scene's training recipe, and a tiny
// `bench transfer` on quadruped: its tables, files and sweeps (not the targets: those need
// real training runs, `simlab bench transfer`).
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/io/video.h"
#include "tests/support/cli.h"

namespace simlab::test {
namespace {

namespace fs = std::filesystem;

std::map<std::string, std::string> hashes(const fs::path& dir) {
  std::ifstream in(dir / "manifest.json");
  EXPECT_TRUE(in.good()) << dir / "manifest.json";
  if (!in) return {};
  std::map<std::string, std::string> out;
  const auto manifest = nlohmann::json::parse(in);
  for (const auto& s : manifest["shards"])
    for (const auto& [id, h] : s["episode_hashes"].items())
      out[id] = h.get<std::string>();
  return out;
}

class PolicyCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("simlab_policy_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    const std::string run_dir = (dir_ / "run").string();
    auto r =
        run("train --scene cartpole-balance --envs 4 --steps 512 --horizon 32 --threads 1 --seed 3 "
            "--randomization none --out " +
            run_dir);
    ASSERT_EQ(r.code, 0) << r.out;
    r = run("export --run " + run_dir + " --format torchscript --eval-episodes 0 --out " +
            (dir_ / "policy").string());
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string policy() { return (dir_ / "policy" / "policy.pt").string(); }
  static fs::path dir_;
};
fs::path PolicyCli::dir_;

TEST_F(PolicyCli, TrainWithoutRandomizationIsRecordedInTheRunConfig) {
  const auto config = nlohmann::json::parse(std::ifstream(dir_ / "run" / "config.json"));
  EXPECT_EQ(config.value("randomization", ""), "none");
  const auto r = run("train --scene cartpole-balance --randomization heldout --steps 10 --out " +
                     (dir_ / "unused").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--randomization")) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "unused"));
}

TEST_F(PolicyCli, GenWithAPolicyFileIsDeterministicPerEpisode) {
  const std::string base = "gen --scene cartpole-balance --policy " + policy() +
                           " --episodes 5 --max-steps 40 --seed 4 --threads 2 ";
  const auto one = dir_ / "gen1", three = dir_ / "gen3", zero = dir_ / "gen0";
  auto r = run(base + "--envs 1 --out " + one.string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(base + "--envs 3 --out " + three.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto h1 = hashes(one);
  EXPECT_EQ(h1.size(), 5u);
  EXPECT_EQ(h1, hashes(three));
  r =
      run("gen --scene cartpole-balance --policy zero --episodes 5 --max-steps 40 --seed 4 "
          "--envs 1 --out " +
          zero.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(h1, hashes(zero));  // the policy's actions are not zeros

  // A policy for another observation layout: exit 2 naming the card's field.
  r = run("gen --scene reacher --policy " + policy() + " --episodes 1 --out " +
          (dir_ / "reacher").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "policy_card.json: observation.dim")) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "reacher"));
}

TEST_F(PolicyCli, EvalOnHeldOutRanges) {
  const auto json = (dir_ / "heldout.json").string();
  const auto r = run("eval --policy " + policy() +
                     " --randomization heldout --episodes 3 --seed 7 --out " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "randomization heldout")) << r.out;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(json))["randomization"], "heldout");
}

// eval --video: an MP4 per recorded episode, one frame per control step (cartpole: 100 Hz, so
// every second step), decodable; episodes past --video-episodes are not recorded.
TEST_F(PolicyCli, EvalVideoRecordsTheFirstEpisodes) {
  const auto videos = dir_ / "videos";
  const auto r = run("eval --policy " + policy() + " --episodes 3 --seed 7 --video " +
                     videos.string() + " --video-episodes 2");
  if (!engine::io::video_available()) {
    EXPECT_EQ(r.code, 2) << r.out;
    return;
  }
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "for the first 2 episodes")) << r.out;
  for (const char* name : {"episode_000.mp4", "episode_001.mp4"}) {
    const auto info = engine::io::probe_video(videos / name);
    EXPECT_EQ(info.width, 320) << name;
    EXPECT_EQ(info.height, 240) << name;
    EXPECT_GT(info.frames, 1) << name;
    EXPECT_NEAR(info.fps, 50.0, 0.01) << name;
  }
  EXPECT_FALSE(fs::exists(videos / "episode_002.mp4"));
  EXPECT_EQ(
      run("eval --policy " + policy() + " --video " + videos.string() + " --video-episodes 0").code,
      2);
}

// The benchmark's smoke version, on the task it is for: two tiny quadruped runs, every cell with
// its safety figures, a sweep along each held-out shift, the files it writes, and a second call
// that reuses both runs.
TEST_F(PolicyCli, BenchTransferSmoke) {
  const fs::path out = dir_ / "transfer";
  const std::string command =
      "bench transfer --scene quadruped --steps 128 --envs 4 --horizon 16 --episodes 2 "
      "--sweep-points 2 --sweep-episodes 2 --threads 1 --out " +
      out.string();
  auto r = run(command);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* column : {"training ranges", "held-out ranges", "held-out / train",
                             "no randomization", "Bullet, training ranges", "Bullet / MuJoCo"})
    EXPECT_TRUE(contains(r.out, column)) << column << "\n" << r.out;
  EXPECT_TRUE(contains(r.out, "| domain randomization |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| no randomization |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| domain randomization | held-out | n/a | ")) << r.out;  // safety
  EXPECT_TRUE(contains(r.out, "targets: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "trained with randomization train")) << r.out;
#if SIMLAB_HAS_BULLET
  EXPECT_FALSE(contains(r.out, "n/a (built without Bullet)")) << r.out;
#else
  EXPECT_TRUE(contains(r.out, "n/a (built without Bullet) | n/a |")) << r.out;
#endif
  for (const char* file : {"transfer.md", "transfer.json", "transfer.png",
                           "trained-train/policy/policy.pt", "trained-none/policy/policy.pt"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  std::ifstream in(out / "transfer.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["scene"], "quadruped");
  ASSERT_EQ(j["policies"].size(), 2u);
  // The scene's shifts: pushes, torso mass, friction, gains and the delay.
  std::vector<std::string> axes;
  for (const auto& s : j["policies"][0]["sweeps"])
    axes.push_back(s["axis"]);
  EXPECT_EQ(axes, (std::vector<std::string>{"push", "body_mass", "geom_friction", "actuator_gain",
                                            "action_delay"}));
  for (const auto& p : j["policies"])
    for (const auto& s : p["sweeps"]) {
      ASSERT_GE(s["points"].size(), 2u) << s.dump();
      for (const auto& point : s["points"]) {
        EXPECT_TRUE(point["return"]["mean"].is_number()) << point.dump();
        EXPECT_TRUE(point["safety"].contains("jerk")) << point.dump();
      }
    }
  EXPECT_EQ(j["policies"][0]["cells"]["heldout"]["randomization"], "heldout");
  EXPECT_EQ(j["policies"][1]["cells"]["train"]["randomization"], "train");
  EXPECT_EQ(j["train"]["ppo"]["hidden"], 128);  // the scene's recipe, where no flag overrides it
  // The figure: five panels, three to a row (a PNG's IHDR holds the width, big-endian, at 16).
  std::ifstream png(out / "transfer.png", std::ios::binary);
  unsigned char header[24] = {};
  png.read(reinterpret_cast<char*>(header), sizeof header);
  const unsigned width = header[16] << 24 | header[17] << 16 | header[18] << 8 | header[19];
  EXPECT_EQ(width, 3u * (520 + 4) + 4);

  // Again: both runs are reused (no training), the evaluation repeats bit for bit.
  const std::string first = [&] {
    std::ifstream f(out / "transfer.json");
    auto k = nlohmann::json::parse(f);
    return k["policies"].dump();
  }();
  r = run(command);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "reused the run with randomization train")) << r.out;
  std::ifstream again(out / "transfer.json");
  EXPECT_EQ(nlohmann::json::parse(again)["policies"].dump(), first);

  // A scene without held-out ranges fails before any training.
  r = run("bench transfer --scene cartpole-swingup --steps 256 --envs 4 --out " +
          (dir_ / "swingup").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "declares no held-out ranges")) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "swingup"));
  r = run("bench transfer --scene quadruped --sweep-points 1 --out " + (dir_ / "points").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--sweep-points: must be >= 2")) << r.out;
}

// `train` takes the scene's [train.ppo] recipe for what its flags leave out, and says so.
TEST_F(PolicyCli, TrainUsesTheScenesRecipe) {
  const fs::path out = dir_ / "recipe";
  const auto r = run("train --scene quadruped --steps 64 --envs 2 --horizon 16 --threads 1 --out " +
                     out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "the scene's recipe ([train.ppo]): hidden 128, init_log_std -1"))
      << r.out;
  std::ifstream in(out / "config.json");
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config["envs"], 2);  // the flag wins over the recipe's 256
  EXPECT_EQ(config["ppo"]["hidden"], 128);
  EXPECT_EQ(config["ppo"]["init_log_std"], -1.0);
}

}  // namespace
}  // namespace simlab::test
