// simlab gen, gen merge, inspect and bench gen, run as a user would: the files open in h5py with
// robomimic's groups and shapes, shards add up to a one-shard run, SIGKILL and SIGINT lose and
// duplicate nothing after --resume, and bad input exits 2 without touching what was written.
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using simlab::test::contains;
using simlab::test::Result;
using simlab::test::run;
using simlab::test::shell;

fs::path fresh(const std::string& name) {
  const auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  return dir;
}

// Episode id -> content hash, from a dataset folder's manifest.json.
std::map<std::int64_t, std::string> hashes(const fs::path& dir) {
  std::ifstream in(dir / "manifest.json");
  EXPECT_TRUE(in.good()) << dir / "manifest.json";
  if (!in) return {};
  const auto m = json::parse(in);
  std::map<std::int64_t, std::string> out;
  for (const auto& s : m["shards"])
    for (const auto& [id, h] : s["episode_hashes"].items())
      EXPECT_TRUE(out.emplace(std::stoll(id), h.get<std::string>()).second) << "duplicate " << id;
  return out;
}

// Runs Debian's python3 (with python3-h5py) on a script; returns its exit code and output.
Result python(const std::string& script, const std::string& args) {
  const auto file = fs::temp_directory_path() / "simlab_gen_test.py";
  std::ofstream(file) << script;
  return shell("/usr/bin/python3 " + file.string() + " " + args);
}

// Checks one shard file the way a robomimic user would read it.
constexpr const char* kH5pyCheck = R"PY(
import json, sys
import h5py, numpy as np
path, obs_keys = sys.argv[1], sys.argv[2].split(",")
f = h5py.File(path, "r")
data = f["data"]
env = json.loads(data.attrs["env_args"])
# robomimic's env metadata: EnvType.GYM_TYPE, a gym id, kwargs that rebuild the env, and what
# simlab records beside them (the spec's text among it).
assert env["type"] == 2 and env["env_name"].startswith("simlab/"), env
assert set(env["env_kwargs"]) == {"scene", "seed", "backend", "randomization"}, env["env_kwargs"]
assert env["simlab"]["schema"] == 2 and "scene_spec" in env["simlab"]
assert env["simlab"]["obs_keys"] == obs_keys, (env["simlab"]["obs_keys"], obs_keys)
terms = json.loads(data.attrs["simlab_obs_terms"])
assert [t["key"] for t in terms] == [k for k in obs_keys if k not in ("rgb", "depth", "seg")]
demos = sorted(data.keys(), key=lambda k: int(k[5:]))
total = 0
for name in demos:
    g = data[name]
    T = int(g.attrs["num_samples"])
    total += T
    assert set(g.keys()) >= {"obs", "next_obs", "actions", "rewards", "dones", "states"}, list(g.keys())
    assert set(g["obs"].keys()) == set(obs_keys), list(g["obs"].keys())
    # The terms side by side are the observation vector: their widths add up to obs_names.
    width = sum(g["obs"][t["key"]].shape[1] for t in terms)
    assert width == len(env["simlab"]["obs_names"]), width
    assert g["actions"].shape[0] == T and g["actions"].dtype == np.float32
    assert g["rewards"].shape == (T,) and g["rewards"].dtype == np.float32
    assert g["dones"].shape == (T,) and g["dones"][-1] == 1 and g["dones"][:-1].sum() == 0
    assert g["states"].ndim == 2 and g["states"].shape[0] == T and g["states"].dtype == np.float64
    per = json.loads(g.attrs["env_args"])
    assert per["episode"] == int(name[5:]) and "randomized" in per, per
    assert len(g.attrs["hash"]) == 16
    for key in obs_keys:
        o, n = g["obs"][key][()], g["next_obs"][key][()]
        assert o.shape == n.shape and o.shape[0] == T, (key, o.shape, n.shape)
        assert np.array_equal(o[1:], n[:-1]), key
        assert g["obs"][key].chunks is not None and g["obs"][key].compression == "gzip", key
        print(name, key, o.dtype, o.shape)
assert data.attrs["total"] == total, (data.attrs["total"], total)
print("OK", len(demos), total)
)PY";

TEST(Gen, DatasetOpensInH5pyWithRobomimicsGroupsAndShapes) {
  const auto dir = fresh("simlab_gen_h5py");
  auto r = run("gen --scene cartpole-balance --envs 3 --episodes 5 --max-steps 30 --seed 4 --out " +
               dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "wrote " + (dir / "shard-00000-of-00001.hdf5").string())) << r.out;
  EXPECT_TRUE(fs::exists(dir / "manifest.json"));
  auto py =
      python(kH5pyCheck, (dir / "shard-00000-of-00001.hdf5").string() + " joint_pos,joint_vel");
  ASSERT_EQ(py.code, 0) << py.out;
  EXPECT_TRUE(contains(py.out, "OK 5 150")) << py.out;
  EXPECT_TRUE(contains(py.out, "demo_4 joint_pos float32 (30, 2)")) << py.out;
#if SIMLAB_HAS_RENDER
  const auto images = fresh("simlab_gen_h5py_rgb");
  r =
      run("gen --scene push --envs 2 --episodes 2 --max-steps 6 --obs state,rgb,depth,seg "
          "--res 32x24 --out " +
          images.string());
  ASSERT_EQ(r.code, 0) << r.out;
  py = python(
      kH5pyCheck,
      (images / "shard-00000-of-00001.hdf5").string() +
          " joint_pos,joint_vel,site_pos_pusher,site_pos_goal,bodies_pos_object,"
          "offset_pusher_to_object0,offset_object0_to_goal,bodies_pos_clutter,rgb,depth,seg");
  ASSERT_EQ(py.code, 0) << py.out;
  EXPECT_TRUE(contains(py.out, "demo_1 rgb uint8 (6, 24, 32, 3)")) << py.out;
  EXPECT_TRUE(contains(py.out, "demo_1 depth float32 (6, 24, 32)")) << py.out;
  EXPECT_TRUE(contains(py.out, "demo_1 seg int32 (6, 24, 32)")) << py.out;
  fs::remove_all(images);
#endif
  fs::remove_all(dir);
}

TEST(Gen, TheUnionOfShardsEqualsAOneShardRun) {
  const std::string job = "gen --scene cartpole-balance --episodes 7 --max-steps 40 --seed 3 ";
  const auto one = fresh("simlab_gen_one"), three = fresh("simlab_gen_three");
  auto r = run(job + "--envs 4 --shard 0/1 --out " + one.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto whole = hashes(one);
  ASSERT_EQ(whole.size(), 7u);

  // Three shards, each told its index another way, with other env and thread counts.
  r = run(job + "--envs 1 --threads 1 --shard 0/3 --out " + three.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "3 of 7 episodes")) << r.out;
  EXPECT_TRUE(contains(r.out, "when all 3 shards have finished: simlab gen merge")) << r.out;
  r = run(job + "--envs 2 --out " + three.string(),
          "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3 ");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "shard 1 of 3 (SLURM_ARRAY_TASK_ID)")) << r.out;
  EXPECT_FALSE(fs::exists(three / "manifest.json"));
  r = run(job + "--envs 3 --out " + three.string(), "JOB_COMPLETION_INDEX=2 SIMLAB_SHARD_COUNT=3 ");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "shard 2 of 3 (JOB_COMPLETION_INDEX)")) << r.out;
  EXPECT_TRUE(fs::exists(three / "manifest.json"));  // the last shard wrote it
  fs::remove(three / "manifest.json");
  r = run("gen merge --verify " + three.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "3 shards, 7 episodes")) << r.out;
  EXPECT_EQ(hashes(three), whole);

  // One file for robomimic: every shard's demos, and masks that depend on the split seed and
  // the episodes only (the one-shard run gets the same split).
  const auto merged = three / "merged.hdf5", merged_one = one / "merged.hdf5";
  r = run("gen merge " + three.string() + " --into " + merged.string() +
          " --valid 0.3 --split-seed 5 --against-copy");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "7 demos (mask/train 5, mask/valid 2")) << r.out;
  EXPECT_TRUE(contains(r.out, "merge / copy throughput")) << r.out;
  EXPECT_FALSE(fs::exists(merged.string() + ".partial"));
  r = run("gen merge " + one.string() + " --into " + merged_one.string() +
          " --valid 0.3 --split-seed 5");
  ASSERT_EQ(r.code, 0) << r.out;
  auto py = python(kH5pyCheck, merged.string() + " joint_pos,joint_vel");
  ASSERT_EQ(py.code, 0) << py.out;
  EXPECT_TRUE(contains(py.out, "OK 7 280")) << py.out;
  constexpr const char* kMasks = R"PY(
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
train, valid = [x.decode() for x in a["mask/train"][()]], [x.decode() for x in a["mask/valid"][()]]
assert sorted(train + valid, key=lambda k: int(k[5:])) == sorted(a["data"].keys(), key=lambda k: int(k[5:]))
assert not set(train) & set(valid)
assert [x.decode() for x in b["mask/valid"][()]] == valid, "the split depends on the shards"
print("valid", ",".join(valid))
)PY";
  py = python(kMasks, merged.string() + " " + merged_one.string());
  ASSERT_EQ(py.code, 0) << py.out;
  EXPECT_TRUE(contains(py.out, "valid demo_")) << py.out;
  r = run("gen merge " + three.string() + " --into " +
          (three / "shard-00000-of-00003.hdf5").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "is a shard of the dataset")) << r.out;
  r = run("gen merge " + three.string() + " --into " + merged.string() + " --valid 1.5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--valid: must be in [0, 1)")) << r.out;
  EXPECT_FALSE(fs::exists(merged.string() + ".partial"));

  // Another seed gives other episodes.
  const auto other = fresh("simlab_gen_other");
  ASSERT_EQ(run("gen --scene cartpole-balance --episodes 7 --max-steps 40 --seed 4 --out " +
                other.string())
                .code,
            0);
  EXPECT_NE(hashes(other).at(0), whole.at(0));
  EXPECT_EQ(run("gen merge " + fresh("simlab_gen_empty").string()).code, 2);
  for (const auto& d : {one, three, other})
    fs::remove_all(d);
}

// Starts `simlab ARGS` in the background; returns its pid.
pid_t spawn(const std::string& args, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd =
        "exec " + std::string(SIMLAB_BIN) + " " + args + " >" + log.string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int committed_parts(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.find(".part-") != std::string::npos && e.path().extension() == ".hdf5") ++n;
  }
  return n;
}

// Waits until `dir` has `parts` committed parts (or the process ended); false if it ended.
bool wait_for_parts(pid_t pid, const fs::path& dir, int parts) {
  for (int i = 0; i < 20000; ++i) {
    if (committed_parts(dir) >= parts) return true;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return false;
}

TEST(Gen, ResumeAfterSigkillAndSigintNeitherLosesNorDuplicatesEpisodes) {
  // Slow enough (~0.5 s) for signals to land mid-run: the quadruped on one thread.
  const std::string job =
      "gen --scene quadruped --policy zero --episodes 60 --max-steps 100 --seed 9 --envs 2 "
      "--threads 1 --chunk-episodes 2 ";
  const auto clean = fresh("simlab_gen_clean");
  auto r = run(job + "--out " + clean.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto expected = hashes(clean);
  ASSERT_EQ(expected.size(), 60u);

  // SIGKILL mid-way: committed parts survive, the torn part is dropped on --resume.
  const auto killed = fresh("simlab_gen_killed");
  const auto log = fs::temp_directory_path() / "simlab_gen_killed.log";
  pid_t pid = spawn(job + "--out " + killed.string(), log);
  ASSERT_TRUE(wait_for_parts(pid, killed, 2)) << "the run ended before it could be killed";
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_FALSE(fs::exists(killed / "shard-00000-of-00001.hdf5")) << "killed too late";
  r = run(job + "--out " + killed.string());  // neither --resume nor --overwrite
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "pass --resume to continue it or --overwrite")) << r.out;
  r = run(job + "--resume --out " + killed.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "committed already")) << r.out;
  EXPECT_EQ(hashes(killed), expected);

  // SIGINT: finished episodes are committed, the files are valid, exit 130; --resume completes.
  const auto stopped = fresh("simlab_gen_sigint");
  pid = spawn(job + "--out " + stopped.string(), log);
  ASSERT_TRUE(wait_for_parts(pid, stopped, 1)) << "the run ended before it could be stopped";
  kill(pid, SIGINT);
  waitpid(pid, &status, 0);
  std::ifstream in(log);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << said;
  EXPECT_EQ(WEXITSTATUS(status), 130) << said;
  EXPECT_TRUE(contains(said, "run the same command with --resume to continue")) << said;
  for (const auto& e : fs::directory_iterator(stopped))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  const auto record = json::parse(std::ifstream(stopped / "shard-00000-of-00001.json"));
  EXPECT_EQ(record["status"], "partial");
  r = run("inspect --json " + stopped.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out.substr(r.out.find('{')))["kind"],
            "committed parts of unfinished shards");
  r = run(job + "--resume --out " + stopped.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(hashes(stopped), expected);
  for (const auto& d : {clean, killed, stopped})
    fs::remove_all(d);
  fs::remove(log);
}

TEST(Gen, ExistingOutputNeedsResumeOrOverwriteAndIsLeftAlone) {
  const auto dir = fresh("simlab_gen_existing");
  const std::string job =
      "gen --scene cartpole-balance --episodes 3 --max-steps 10 --out " + dir.string();
  ASSERT_EQ(run(job).code, 0);
  const auto file = dir / "shard-00000-of-00001.hdf5";
  const auto size = fs::file_size(file);
  const auto time = fs::last_write_time(file);
  auto r = run(job);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "already holds shard 0 of 1")) << r.out;
  EXPECT_EQ(fs::file_size(file), size);
  EXPECT_EQ(fs::last_write_time(file), time);
  r = run(job + " --resume");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "3 committed already, 0 to go")) << r.out;
  EXPECT_EQ(fs::last_write_time(file), time);
  r = run(job + " --seed 5 --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "seed is 5 here and 0 there")) << r.out;
  EXPECT_EQ(run(job + " --resume --overwrite").code, 2);
  r = run(job + " --seed 5 --overwrite");
  EXPECT_EQ(r.code, 0) << r.out;
  fs::remove_all(dir);
}

TEST(Gen, BadInputExitsTwoWithAClearMessage) {
  const auto blocker = fs::temp_directory_path() / "simlab_gen_blocker";
  std::ofstream(blocker) << "a file, not a folder";
  const std::string base = "gen --scene cartpole-balance --episodes 2 --max-steps 5 ";
  auto r = run(base + "--out " + (blocker / "out").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "cannot create the output folder")) << r.out;
  r = run(base + "--policy " + blocker.string() + " --out /tmp/simlab_gen_unused");
  EXPECT_EQ(r.code, 2) << r.out;
  // Not a policy.pt: LibTorch cannot load it (or this simlab has no LibTorch to load it with).
  EXPECT_TRUE(contains(r.out, "--policy: not a TorchScript policy") ||
              contains(r.out, "--policy: policy files need LibTorch"))
      << r.out;
  r = run(base + "--obs state,rgbb --out /tmp/simlab_gen_unused");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "did you mean 'rgb'?")) << r.out;
  r = run(base + "--shard 3/3 --out /tmp/simlab_gen_unused");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "outside [0, 3)")) << r.out;
  r = run("gen --episodes 2 --out /tmp/simlab_gen_unused");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--scene: required")) << r.out;
  EXPECT_FALSE(fs::exists("/tmp/simlab_gen_unused"));
  fs::remove(blocker);
}

TEST(Gen, AFullDiskFailsClearlyAndKeepsWhatWasCommitted) {
  const std::string job =
      "gen --scene cartpole-balance --episodes 16 --max-steps 100 --seed 2 --envs 2 "
      "--chunk-episodes 4 --compression 0 ";
  const auto clean = fresh("simlab_gen_full_clean"), full = fresh("simlab_gen_full");
  ASSERT_EQ(run(job + "--out " + clean.string()).code, 0);
  const auto size = fs::file_size(clean / "shard-00000-of-00001.hdf5");
  // A file size limit of half the shard (bash counts 1024-byte blocks): every part of 4 episodes
  // fits, the assembled shard does not. SIGXFSZ is ignored by simlab, so the write fails with
  // EFBIG as on a full disk.
  const std::string limit = std::to_string(size / 2 / 1024);
  auto r = shell("/bin/bash -c 'ulimit -f " + limit + "; exec " + SIMLAB_BIN + " " + job +
                 "--out " + full.string() + "'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "file size limit (`ulimit -f`)")) << r.out;
  EXPECT_TRUE(contains(r.out, "the 16 episodes committed before are intact in")) << r.out;
  EXPECT_TRUE(contains(r.out, "--resume")) << r.out;
  EXPECT_EQ(committed_parts(full), 4);
  for (const auto& e : fs::directory_iterator(full))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  // A limit below one part: the writer thread's write fails mid-run, with the system's reason,
  // and the torn part is removed.
  const auto early = fresh("simlab_gen_full_early");
  r = shell("/bin/bash -c 'ulimit -f 40; exec " + std::string(SIMLAB_BIN) + " " + job + "--out " +
            early.string() + "'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "File too large")) << r.out;
  EXPECT_TRUE(contains(r.out, "the 0 episodes committed before are intact")) << r.out;
  for (const auto& e : fs::directory_iterator(early))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  fs::remove_all(early);

  r = run(job + "--resume --out " + full.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "16 committed already, 0 to go")) << r.out;
  EXPECT_EQ(hashes(full), hashes(clean));
  fs::remove_all(clean);
  fs::remove_all(full);
}

TEST(Inspect, CountsShapesStatisticsAndASheet) {
  const auto dir = fresh("simlab_inspect");
#if SIMLAB_HAS_RENDER
  const std::string obs = "state,rgb";
#else
  const std::string obs = "state";
#endif
  auto r = run("gen --scene push --episodes 3 --max-steps 10 --res 32x32 --obs " + obs + " --out " +
               dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto sheet = dir / "sheet.png";
  r = run("inspect --json " + dir.string() +
          (SIMLAB_HAS_RENDER ? " --sheet " + sheet.string() + " --sheet-frames 4" : ""));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["episodes"], 3);
  EXPECT_EQ(j["steps"], 30);
  EXPECT_EQ(j["kind"], "finished shards");
  EXPECT_EQ(j["scene"], "push");
  EXPECT_EQ(j["keys"]["obs/bodies_pos_object"]["shape"], json::array({-1, 4}));
  EXPECT_EQ(j["keys"]["obs/bodies_pos_clutter"]["shape"], json::array({-1, 8}));
  EXPECT_EQ(j["keys"]["obs/joint_pos"]["shape"], json::array({-1, 3}));
  EXPECT_EQ(j["env_name"], "simlab/push-v0");
  EXPECT_EQ(j["elements"]["obs/site_pos_goal"].size(), 3u);
  EXPECT_EQ(j["keys"]["actions"]["dtype"], "float32");
  EXPECT_EQ(j["keys"]["dones"]["mean"].get<double>(), 0.1);  // one done in ten steps
  EXPECT_EQ(j["elements"]["actions"].size(), 3u);
  EXPECT_LE(j["keys"]["actions"]["max"].get<double>(), 1.0);
  EXPECT_EQ(j["manifest"]["episodes"], 3);
#if SIMLAB_HAS_RENDER
  EXPECT_EQ(j["keys"]["obs/rgb"]["shape"], json::array({-1, 32, 32, 3}));
  EXPECT_EQ(j["sheet"]["episodes"].size(), 3u);
  // A PNG of 4 frames by 3 episodes of 32x32 with 2-pixel gaps: 138 x 104.
  std::ifstream png(sheet, std::ios::binary);
  unsigned char header[24] = {};
  png.read(reinterpret_cast<char*>(header), 24);
  EXPECT_EQ(header[18] * 256 + header[19], 138);
  EXPECT_EQ(header[22] * 256 + header[23], 104);
#endif
  // The human-readable report, on one file.
  r = run("inspect " + (dir / "shard-00000-of-00001.hdf5").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "3 episodes, 30 steps")) << r.out;
  EXPECT_TRUE(contains(r.out, "obs/bodies_pos_object        float32  [T, 4]")) << r.out;
  EXPECT_TRUE(contains(r.out, "ctrl/shoulder")) << r.out;
  EXPECT_TRUE(contains(r.out, "bodies_pos/clutter/clutter1.present")) << r.out;  // element names
  r = run("inspect /tmp/simlab_no_such_dataset");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "no such file or folder")) << r.out;
  fs::remove_all(dir);
}

// Damage HDF5's own checksums miss (inside raw chunks) is caught against the shard's record;
// damage to HDF5's metadata by HDF5: either way exit 2 naming the file, never "0 episodes".
TEST(Inspect, DamagedShardsFailNamingTheFile) {
  const auto dir = fresh("simlab_inspect_damaged");
  ASSERT_EQ(
      run("gen --scene cartpole-balance --episodes 6 --max-steps 30 --out " + dir.string()).code,
      0);
  const auto file = dir / "shard-00000-of-00001.hdf5";
  const auto size = fs::file_size(file);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write("damaged!", 8);
  }
  auto r = run("inspect " + dir.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, file.string() + ": this dataset shard is damaged or truncated"))
      << r.out;
  fs::resize_file(file, size / 3);
  r = run("inspect " + file.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, file.string() + ": ")) << r.out;
  fs::remove_all(dir);
}

TEST(BenchGen, ReportsRatesWithAndWithoutWritingAndBytesPerStep) {
  const auto r =
      run(std::string("bench gen --scene cartpole-balance --episodes 4 --envs 2 --max-steps 20 "
                      "--res 16x16 --repeats 1 --json") +
          (SIMLAB_HAS_RENDER ? "" : " --no-images"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = json::parse(r.out.substr(r.out.find('{')));
  ASSERT_EQ(j["modes"].size(), SIMLAB_HAS_RENDER ? 2u : 1u);
  for (const auto& m : j["modes"]) {
    EXPECT_GT(m["sim_env_steps_per_s"].get<double>(), 0) << m;
    EXPECT_GT(m["write_env_steps_per_s"].get<double>(), 0) << m;
    EXPECT_GT(m["bytes_per_step"].get<double>(), 0) << m;
    EXPECT_EQ(m["env_steps"], 80);
  }
}

}  // namespace
