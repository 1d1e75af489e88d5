// simlab train as a user runs it: --threads 1 keeps to one core (LibTorch, OpenMP, OpenBLAS and
// the simulation), and the world-model learner trains data-parallel over two Gloo processes with
// identical parameters on every rank, and resumes so.
#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

namespace simlab::test {
namespace {

namespace fs = std::filesystem;

double children_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU time over wall time of one simlab command (its shell included).
double cores_used(const std::string& args) {
  const double cpu = children_cpu_s();
  const auto start = std::chrono::steady_clock::now();
  const auto r = run(args);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.code, 0) << r.out;
  return (children_cpu_s() - cpu) / wall;
}

const std::string kTinyDreamer =
    " --algo dreamer --envs 2 --horizon 20 --batch 8 --seq-len 16 --prefill 80 --train-ratio 16 "
    "--deter 32 --hidden 32 --device cpu";
const std::string kEveryStep = " --action-repeat 1";  // the tests count decisions as env steps

TEST(Train, ThreadsOneKeepsToOneCore) {
  const auto dir = fs::temp_directory_path() / "simlab_threads_test";
  fs::remove_all(dir);
  // The world-model learner: an actor thread and a learner thread, taking turns.
  const double dreamer = cores_used("train --scene cartpole-balance" + kTinyDreamer +
                                    " --steps 1600 --threads 1 --out " + (dir / "d").string());
  EXPECT_LE(dreamer, 1.15) << "cores used by a --threads 1 dreamer run";
  // PPO: simulation and updates in turn, OpenBLAS under the updates.
  const double ppo = cores_used(
      "train --scene cartpole-balance --algo ppo --envs 64 --steps 40000 "
      "--threads 1 --out " +
      (dir / "p").string());
  EXPECT_LE(ppo, 1.15) << "cores used by a --threads 1 PPO run";
  fs::remove_all(dir);
}

// --action-repeat: the policy decides every 4 control steps; the run counts control steps, the
// card says so (half the scene's rate), and evaluation holds each action as training did.
TEST(Train, ActionRepeatReachesTheCardAndTheEvaluation) {
  const auto dir = fs::temp_directory_path() / "simlab_action_repeat_test";
  fs::remove_all(dir);
  const auto r = run("train --scene cartpole-swingup" + kTinyDreamer +
                     " --steps 1600 --action-repeat 4 --threads 1 --out " + (dir / "run").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream metrics(dir / "run" / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(metrics, line);)
    rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 10u);  // 2 envs x 20 decisions x 4 control steps per iteration
  EXPECT_EQ(rows.back()["env_steps"], 1600);
  EXPECT_EQ(rows.back()["episodes"], 0);  // 800 control steps per env: swing-up episodes are 1000
  const auto e = run("export --run " + (dir / "run").string() + " --format torchscript --out " +
                     (dir / "export").string());
  ASSERT_EQ(e.code, 0) << e.out;
  nlohmann::json card;
  std::ifstream(dir / "export" / "policy_card.json") >> card;
  EXPECT_EQ(card["action"]["action_repeat"], 4);
  EXPECT_EQ(card["action"]["control_hz"], 25.0);
  const auto v = run("eval --policy " + (dir / "export" / "policy.pt").string() +
                     " --episodes 2 --out " + (dir / "eval.json").string());
  ASSERT_EQ(v.code, 0) << v.out;
  nlohmann::json eval;
  std::ifstream(dir / "eval.json") >> eval;
  ASSERT_EQ(eval["per_episode"].size(), 2u) << eval.dump();
  for (const auto& episode : eval["per_episode"])
    EXPECT_EQ(episode["length"], 1000) << "control steps, with actions held for 4 of them";
  fs::remove_all(dir);
}

// Without --action-repeat a run takes the scene's (cartpole-swingup.toml names 4) or 2, and its
// config.json records the number, so a resume or an export never depends on the scene file.
TEST(Train, TheDefaultActionRepeatIsTheScenesAndIsRecorded) {
  const auto dir = fs::temp_directory_path() / "simlab_default_repeat_test";
  for (const auto& [scene, repeat] : {std::pair{"cartpole-swingup", 4}, {"cartpole-balance", 2}}) {
    fs::remove_all(dir);
    const auto r = run("train --scene " + std::string(scene) + kTinyDreamer +
                       " --steps 160 --threads 1 --out " + dir.string());
    ASSERT_EQ(r.code, 0) << r.out;
    nlohmann::json config;
    std::ifstream(dir / "config.json") >> config;
    EXPECT_EQ(config["dreamer"]["action_repeat"], repeat) << scene;
  }
  fs::remove_all(dir);
}

// An update that does not fit in memory stops the run with one message naming the batch and what
// to lower, exit 2, and the checkpoint before it stays readable. (On the CPU here: a layer of
// 2M x 16 rows x 1024 units asks for 131 GB at once, which the kernel refuses outright under its
// default overcommit heuristic; CUDA's "out of memory" takes the same path.)
TEST(Train, AnUpdateThatDoesNotFitInMemoryIsNamed) {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = -1;
  overcommit >> mode;
  if (mode != 0) GTEST_SKIP() << "needs the kernel's heuristic overcommit (mode 0), not " << mode;
  const auto dir = fs::temp_directory_path() / "simlab_oom_test";
  fs::remove_all(dir);
  const auto r =
      run("train --scene cartpole-balance --algo dreamer --envs 2 --horizon 20 --batch 2000000 "
          "--seq-len 16 --prefill 80 --train-ratio 1000000 --deter 32 --hidden 1024 --device cpu "
          "--steps 400 --threads 1 --checkpoint-every 1" +
          kEveryStep + " --out " + dir.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "--batch: the device ran out of memory in an update of 2000000 "
                       "sequences x 16 steps"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "lower --batch, --seq-len or --imag-starts")) << r.out;
  EXPECT_TRUE(contains(
      r.out, "the last good checkpoint is " + (dir / "checkpoint.pt").string() + " (kept)"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "internal error")) << r.out;
  fs::remove_all(dir);
}

std::string fingerprint(const fs::path& log, int rank) {
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::string key = "rank " + std::to_string(rank) + " of 2: parameters ";
  const auto at = text.find(key);
  return at == std::string::npos ? "missing in: " + text : text.substr(at + key.size(), 16);
}

// Both ranks as torchrun starts them, on one --out; returns each rank's parameter fingerprint.
std::vector<std::string> two_ranks(const fs::path& dir, const std::string& args) {
  const std::string port = std::to_string(20000 + (getpid() + 7919) % 30000);
  std::string cmd;
  for (int rank = 0; rank < 2; ++rank)
    cmd += "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 LOCAL_RANK=" + std::to_string(rank) +
           " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + SIMLAB_BIN + " train " + args +
           " --out " + (dir / "run").string() + " > " +
           (dir / ("rank" + std::to_string(rank) + ".log")).string() + " 2>&1 & ";
  cmd += "wait";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return {fingerprint(dir / "rank0.log", 0), fingerprint(dir / "rank1.log", 1)};
}

TEST(Train, DreamerTrainsDataParallelOverTwoGlooProcesses) {
  const auto dir = fs::temp_directory_path() / "simlab_ddp_dreamer_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string args = "--scene cartpole-balance --threads 1" + kTinyDreamer + kEveryStep;
  // 4 iterations of 2 ranks x 2 envs x 20 steps; updates after the 80-step prefill.
  auto f = two_ranks(dir, args + " --steps 320");
  ASSERT_EQ(f[0].size(), 16u) << f[0];
  EXPECT_EQ(f[0], f[1]) << "averaged gradients on different data: identical parameters";
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoint.pt"));
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoint.rank1.pt")) << "each rank keeps its replay";
  std::ifstream metrics(dir / "run" / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(metrics, line);)
    rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.back()["env_steps"], 320);  // both ranks' steps
  EXPECT_GT(rows.back()["updates"].get<int>(), 0);
  // Both ranks resume from their own checkpoints and stay identical.
  f = two_ranks(dir, args + " --steps 480 --resume");
  ASSERT_EQ(f[0].size(), 16u) << f[0];
  EXPECT_EQ(f[0], f[1]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace simlab::test
