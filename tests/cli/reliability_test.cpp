// The bad-input and fault campaign's cases (issue 20) against the binary: each ends in a message
// naming what to fix and exit 2, never a signal, and nothing trusted unchecked.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/cli.h"

namespace {

namespace fs = std::filesystem;
using simlab::test::contains;
using simlab::test::run;

fs::path fresh(const std::string& name) {
  const auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

void flip_byte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  const char c = static_cast<char>(f.get());
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x10));
}

TEST(Reliability, TrainFlagsOutOfRangeAreNamedNotSignals) {
  const auto dir = fresh("simlab_rel_flags");
  const std::string job =
      "train --scene cartpole-balance --steps 256 --envs 2 --out " + dir.string() + " ";
  struct Case {
    std::string flags, says;
  };
  for (const auto& c : {Case{"--minibatches 0", "--minibatches: must be in [1, "},
                        Case{"--lr nan", "--lr: must be a finite number in (0, 1], got nan"},
                        Case{"--gamma 1.5", "--gamma: must be a finite number in [0, 1]"},
                        Case{"--algo dreamer --deter 0", "--deter: must be in [1, 1048576], got 0"},
                        Case{"--algo dreamer --imagine 0", "--imagine: must be in [1, 1000]"},
                        Case{"--algo dreamer --horizon 0", "--horizon: must be >= 1, got 0"},
                        Case{"--hidden -3", "--hidden: must be >= 1, got -3"}}) {
    const auto r = run(job + c.flags);
    EXPECT_EQ(r.code, 2) << c.flags << ": " << r.out;
    EXPECT_TRUE(contains(r.out, c.says)) << c.flags << ": " << r.out;
  }
  EXPECT_FALSE(fs::exists(dir)) << "nothing is written on bad input";
}

TEST(Reliability, DamagedCheckpointsAndPoliciesAreRefusedBeforeLoading) {
  const auto dir = fresh("simlab_rel_files");
  const auto run_dir = dir / "run", out = dir / "policy";
  const std::string train =
      "train --scene cartpole-balance --envs 4 --horizon 32 --threads 1 "
      "--out " +
      run_dir.string();
  auto r = run(train + " --steps 256");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto ckpt = run_dir / "checkpoint.pt";
  ASSERT_TRUE(fs::exists(run_dir / "checkpoint.pt.sum"));
  fs::copy_file(ckpt, dir / "good.pt");

  // A flipped bit and a truncation: refused naming the file, the run folder left as it was.
  flip_byte(ckpt, 2000);
  r = run(train + " --steps 512 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, ckpt.string() + ": this checkpoint is damaged or truncated"))
      << r.out;
  fs::resize_file(ckpt, 1000);
  r = run("export --run " + run_dir.string() + " --eval-episodes 0 --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "it has 1000 bytes")) << r.out;
  fs::copy_file(dir / "good.pt", ckpt, fs::copy_options::overwrite_existing);

  // Exports: a negative rate bound is a typo, not "no guardrail".
  r = run("export --run " + run_dir.string() + " --max-delta -1 --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--max-delta: must be 0 (no rate bound) or a fraction")) << r.out;
  r = run("export --run " + run_dir.string() + " --eval-episodes 0 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto pt = out / "policy.pt";
  r = run("eval --policy " + pt.string() + " --episodes 1");
  ASSERT_EQ(r.code, 0) << r.out;
  flip_byte(pt, 3000);
  for (const std::string& cmd : {"eval --policy " + pt.string() + " --episodes 1",
                                 "gen --scene cartpole-balance --episodes 1 --policy " +
                                     pt.string() + " --out " + (dir / "data").string()}) {
    r = run(cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_TRUE(contains(r.out, pt.string() + ": this exported policy is damaged or truncated"))
        << cmd << ": " << r.out;
  }
  fs::remove_all(dir);
}

TEST(Reliability, TrainPastTheFileSizeLimitStopsWithAMessage) {
  const auto dir = fresh("simlab_rel_fsize");
  // 100 KB: the metrics fit, the first checkpoint (150 KB) does not. Without SIGXFSZ ignored the
  // process would die by the signal (exit 153); without our own writes, by LibTorch's abort.
  const auto r =
      run("train --scene cartpole-balance --steps 256 --envs 4 --horizon 32 "
          "--threads 1 --out " +
              dir.string(),
          "ulimit -f 100; ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "checkpoint.pt: cannot write after")) << r.out;
  EXPECT_TRUE(contains(r.out, "File too large")) << r.out;
  EXPECT_FALSE(fs::exists(dir / "checkpoint.pt.tmp"));
  fs::remove_all(dir);
}

// 100,000 push envs need about 40 GB: refused up front with the figures (it used to grow to 16 GB
// over 51 s before MuJoCo's allocation failed); gen counts each episode's recording too.
TEST(Reliability, RunsThatCannotFitInMemoryAreRefusedUpFront) {
  auto r = run("bench spinup --scene push --envs 100000", "SIMLAB_MEMORY_LIMIT=8G ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--envs: 100000 envs of")) << r.out;
  EXPECT_TRUE(contains(r.out, "SIMLAB_MEMORY_LIMIT=8G allows; at most")) << r.out;
  const auto dir = fresh("simlab_rel_memory");
  r = run("gen --scene push --obs state,rgb --res 256x256 --envs 2000 --episodes 2000 --out " +
              dir.string(),
          "SIMLAB_MEMORY_LIMIT=8G ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--envs: 2000 episodes in flight need about")) << r.out;
  EXPECT_FALSE(fs::exists(dir)) << "refused before the folder is made";
  r = run("bench physics --scene cartpole-balance --envs 16 --steps 10",
          "SIMLAB_MEMORY_LIMIT=plenty ");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "SIMLAB_MEMORY_LIMIT: 'plenty': expected a size")) << r.out;
}

// `args` in the background (output to `log`); its PID.
pid_t start(const std::string& args, const fs::path& log) {
  const auto r = simlab::test::shell(std::string(SIMLAB_BIN) + " " + args + " > " + log.string() +
                                     " 2>&1 & echo $!");
  return static_cast<pid_t>(std::stol(r.out));
}

bool alive(pid_t pid) {
  return fs::exists("/proc/" + std::to_string(pid));
}

// Until `file` holds text (the holder wrote its note) or `pid` ended.
bool wait_for_lock(const fs::path& file, pid_t pid) {
  for (int i = 0; i < 2000 && alive(pid); ++i) {
    std::error_code ec;
    if (fs::file_size(file, ec) > 0 && !ec) return true;
    usleep(5000);
  }
  return false;
}

void kill_and_wait(pid_t pid) {
  kill(pid, SIGKILL);
  for (int i = 0; i < 1000 && alive(pid); ++i)
    usleep(5000);
}

TEST(Reliability, OneWriterPerShardAndRunFolderAndKilledHoldersAreTakenOver) {
  const auto dir = fresh("simlab_rel_lock");
  fs::create_directories(dir);
  const auto log = dir / "first.log";
  // A dataset shard: the second writer of the same shard is refused naming the first.
  const auto data = dir / "data";
  const std::string gen =
      "gen --scene quadruped --policy zero --episodes 3000 --max-steps 100 "
      "--envs 2 --threads 1 --out " +
      data.string();
  pid_t pid = start(gen, log);
  ASSERT_TRUE(wait_for_lock(data / ".shard-00000-of-00001.lock", pid)) << "ended too soon";
  auto r = run(gen + " --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "shard 0 of 1 in " + data.string() +
                                  " is being written by another simlab (PID " +
                                  std::to_string(pid)))
      << r.out;
  // Killed, its lock is free; the resume says whose it was and finishes with no stray parts.
  kill_and_wait(pid);
  r = run("gen --scene quadruped --policy zero --episodes 3000 --max-steps 20 --envs 2 --out " +
          data.string() + " --overwrite");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "is not running any more: its lock is taken over")) << r.out;
  for (const auto& f : fs::directory_iterator(data))
    EXPECT_EQ(f.path().filename().string().find(".part-"), std::string::npos) << f.path();

  // A training run folder: a second --resume while the first runs is refused.
  const auto runs = dir / "run";
  const std::string train =
      "train --scene cartpole-balance --envs 4 --horizon 32 --threads 1 "
      "--out " +
      runs.string();
  ASSERT_EQ(run(train + " --steps 128").code, 0);
  pid = start(train + " --steps 100000000 --resume", log);
  ASSERT_TRUE(wait_for_lock(runs / ".simlab.lock", pid)) << "ended too soon";
  r = run(train + " --steps 100000000 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "run folder " + runs.string() + " is being written by another"))
      << r.out;
  kill_and_wait(pid);
  fs::remove_all(dir);
}

}  // namespace
