// Exported policies outside `simlab eval`, run as a user would: `train --randomization none`,
// `gen --policy policy.pt` (deterministic per episode whatever --envs, a layout mismatch exits 2
// naming the field), `eval --randomization heldout`, and a tiny `bench transfer` whose table has
// the expected rows and columns (not the targets: those need a real training run).
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

TEST_F(PolicyCli, BenchTransferPrintsOneTable) {
  auto r =
      run("bench transfer --scene cartpole-balance --steps 256 --envs 4 --horizon 32 --episodes 2 "
          "--threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* column :
       {"return on training ranges (95% interval)", "return on held-out ranges (95% interval)",
        "held-out / train", "return without randomization", "other physics engine",
        "Bullet / MuJoCo"})
    EXPECT_TRUE(contains(r.out, column)) << column << "\n" << r.out;
  EXPECT_TRUE(contains(r.out, "| domain randomization (--randomization train) |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| no randomization (--randomization none) |")) << r.out;
#if SIMLAB_HAS_BULLET  // each policy evaluated on Bullet (fails until the backend is finished)
  EXPECT_FALSE(contains(r.out, "n/a (built without Bullet)")) << r.out;
#else
  EXPECT_TRUE(contains(r.out, "n/a (built without Bullet) | n/a |")) << r.out;
#endif
  EXPECT_TRUE(contains(r.out, "targets: ")) << r.out;

  // A scene without held-out ranges fails before any training.
  r = run("bench transfer --scene cartpole-swingup --steps 256 --envs 4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "declares no held-out ranges")) << r.out;
}

}  // namespace
}  // namespace simlab::test
