// --backend mujoco|bullet on the commands that simulate, run as a user would: an unknown engine
// exits 2 naming --backend on every such command, bullet passes argument parsing, a run's backend
// is part of its configuration (a resume on another one is refused naming it) and of its policy
// card.
//
// The tests named Bullet* step the Bullet backend for real (gen writes a dataset, bench physics
// compares both engines, train on Bullet then resume on MuJoCo); they fail until
// engine/physics/bullet is finished, and are skipped in builds without Bullet.
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

namespace simlab::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("simlab_backend_cli_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

// The last JSON object printed (progress goes to stderr only on a terminal).
nlohmann::json last_json(const std::string& out) {
  return nlohmann::json::parse(out.substr(out.find('{')));
}

// Every command that compiles a scene and steps it, with what it needs to get that far.
std::vector<std::string> simulating_commands(const fs::path& dir) {
  std::vector<std::string> commands = {
      "gen --scene cartpole-balance --episodes 1 --out " + (dir / "gen").string(),
      "bench gen --scene cartpole-balance --episodes 1 --no-images",
      "bench physics --scene cartpole-balance --envs 2 --steps 2 --repeats 1",
      "bench spinup --scene cartpole-balance --envs 2",
      "scenes check cartpole-balance",
  };
#if SIMLAB_HAS_RENDER
  commands.push_back("render --scene cartpole-balance --envs 1 --out " + (dir / "render").string());
#endif
#if SIMLAB_HAS_LEARNERS
  commands.push_back("train --scene cartpole-balance --steps 64 --out " + (dir / "run").string());
  commands.push_back("eval --policy " + (dir / "nothing.pt").string());
#endif
  return commands;
}

TEST(BackendCli, UnknownBackendExitsTwoNamingTheOption) {
  const auto dir = temp_dir("unknown");
  for (const auto& command : simulating_commands(dir)) {
    const auto r = run(command + " --backend bulet");
    EXPECT_EQ(r.code, 2) << command << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, "simlab: error: --backend: 'bulet': expected mujoco or bullet"))
        << command << "\n"
        << r.out;
  }
  // Nothing was started: no dataset, image or run folder.
  EXPECT_FALSE(fs::exists(dir / "gen"));
  EXPECT_FALSE(fs::exists(dir / "render"));
  EXPECT_FALSE(fs::exists(dir / "run"));
}

// --help is processed after every option's check, so exit 0 means the word was accepted; the help
// itself teaches the option.
TEST(BackendCli, BulletPassesArgumentParsingAndHelpTeachesTheOption) {
  const auto dir = temp_dir("parse");
  for (const auto& command : simulating_commands(dir)) {
    const auto r = run(command + " --backend bullet --help");
#if SIMLAB_HAS_BULLET
    EXPECT_EQ(r.code, 0) << command << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, "--backend TEXT=mujoco")) << command << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, "bullet")) << command << "\n" << r.out;
#else
    EXPECT_EQ(r.code, 2) << command << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, "--backend: 'bullet': this simlab was built without Bullet"))
        << command << "\n"
        << r.out;
#endif
  }
  // Commands that never simulate have no --backend.
  for (const char* command : {"scenes list --help", "version --help"})
    EXPECT_FALSE(contains(run(command).out, "--backend TEXT")) << command;
}

#if SIMLAB_HAS_LEARNERS
// Without stepping Bullet: a run folder whose config says bullet refuses a resume on mujoco, and
// the policy card says which engine a policy trained on.
TEST(BackendCli, ResumeOnAnotherBackendIsRefusedAndTheCardRecordsTheBackend) {
  const auto dir = temp_dir("resume");
  const std::string run_dir = (dir / "run").string();
  const std::string train =
      "train --scene cartpole-balance --envs 2 --steps 64 --horizon 32 --checkpoint-every 1 "
      "--threads 1 --seed 1 --out " +
      run_dir;
  auto r = run(train);
  ASSERT_EQ(r.code, 0) << r.out;
  auto config = nlohmann::json::parse(std::ifstream(dir / "run" / "config.json"));
  EXPECT_FALSE(config.contains("backend"));  // mujoco, the default: as before --backend

  r = run("export --run " + run_dir + " --format torchscript --eval-episodes 0 --out " +
          (dir / "policy").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto card = nlohmann::json::parse(std::ifstream(dir / "policy" / "policy_card.json"));
  EXPECT_EQ(card["training"]["backend"], "mujoco");

  config["backend"] = "bullet";  // as `train --backend bullet` writes it
  std::ofstream(dir / "run" / "config.json") << config.dump(2);
  r = run(train + " --resume --backend mujoco");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--resume: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "'backend' differs (\"bullet\" there")) << r.out;
  fs::remove_all(dir);
}
#endif

// --- The real Bullet backend (these fail until engine/physics/bullet is finished). ---

TEST(BackendCli, BulletGenWritesADataset) {
#if !SIMLAB_HAS_BULLET
  GTEST_SKIP() << "built without Bullet";
#endif
  const auto dir = temp_dir("gen");
  const std::string base =
      "gen --scene cartpole-balance --episodes 2 --envs 2 --max-steps 50 --threads 1 --seed 2 "
      "--out " +
      dir.string();
  auto r = run(base + " --backend bullet --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto summary = last_json(r.out);
  EXPECT_EQ(summary["episodes"], 2);
  EXPECT_EQ(summary["backend"], "bullet");
  const auto manifest = nlohmann::json::parse(std::ifstream(dir / "manifest.json"));
  EXPECT_EQ(manifest["episodes"], 2);
  // The same folder on the other engine: refused, naming the backend.
  r = run(base + " --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "backend")) << r.out;
  fs::remove_all(dir);
}

TEST(BackendCli, BulletBenchPhysicsReportsRatiosAndMatchingDigests) {
#if !SIMLAB_HAS_BULLET
  GTEST_SKIP() << "built without Bullet";
#endif
  const std::string base =
      "bench physics --scene cartpole-balance --envs 8 --steps 20 --repeats 1 --threads 2 --json";
  auto r = run(base + " --backend bullet");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = last_json(r.out);
  ASSERT_TRUE(j.contains("bullet")) << r.out;
  for (const char* phase : {"raw", "batched_1t", "batched"})
    EXPECT_GT(j["bullet_vs_mujoco"][phase].get<double>(), 0) << phase;
  EXPECT_GT(j["bullet"]["batched_env_steps_per_s"].get<double>(), 0);
  EXPECT_EQ(j["bullet"]["digest"], j["bullet"]["digest_1t"]);
  EXPECT_TRUE(j["bullet"]["deterministic"].get<bool>());
  // MuJoCo's figures are those of a MuJoCo-only run: the same rollout.
  r = run(base);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto mujoco = last_json(r.out);
  EXPECT_EQ(j["digest"], mujoco["digest"]);
  EXPECT_FALSE(mujoco.contains("bullet"));
  // The table names both engines and the ratio.
  r =
      run("bench physics --model cartpole --envs 4 --steps 10 --repeats 1 --threads 1 --backend "
          "bullet");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Bullet / MuJoCo")) << r.out;
  EXPECT_TRUE(contains(r.out, "Bullet: episodes")) << r.out;
}

#if SIMLAB_HAS_LEARNERS
TEST(BackendCli, BulletTrainThenResumeOnMuJoCoIsRefused) {
#if !SIMLAB_HAS_BULLET
  GTEST_SKIP() << "built without Bullet";
#endif
  const auto dir = temp_dir("train");
  const std::string run_dir = (dir / "run").string();
  const std::string train =
      "train --scene cartpole-balance --envs 2 --steps 64 --horizon 32 --checkpoint-every 1 "
      "--threads 1 --seed 1 --out " +
      run_dir;
  auto r = run(train + " --backend bullet");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto config = nlohmann::json::parse(std::ifstream(dir / "run" / "config.json"));
  EXPECT_EQ(config["backend"], "bullet");

  r = run(train + " --resume --backend mujoco");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "'backend' differs")) << r.out;

  // Exported, the card says Bullet, and its first evaluation ran there; eval takes --backend.
  r = run("export --run " + run_dir + " --format torchscript --eval-episodes 1 --out " +
          (dir / "policy").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto card = nlohmann::json::parse(std::ifstream(dir / "policy" / "policy_card.json"));
  EXPECT_EQ(card["training"]["backend"], "bullet");
  EXPECT_EQ(card["evaluation"]["backend"], "bullet");
  const auto json = (dir / "eval.json").string();
  r = run("eval --policy " + (dir / "policy" / "policy.pt").string() +
          " --backend bullet --episodes 2 --out " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "on bullet")) << r.out;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(json))["backend"], "bullet");
  fs::remove_all(dir);
}
#endif

}  // namespace
}  // namespace simlab::test
