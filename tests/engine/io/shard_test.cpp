// Sharding (which episodes a shard takes, where its index comes from) and a shard's files: parts
// committed by rename, --resume after a crash, and the rules for an existing output folder.
#include "engine/io/shard.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/io/checksum.h"
#include "tests/support/errors.h"

namespace simlab::engine::io {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

Shard resolve(const std::string& flag, int count, const Env& env) {
  return resolve_shard(flag, count, [&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

using test::error_of;

TEST(Shard, IndexAndCountFromTheFlagSlurmOrKubernetes) {
  auto s = resolve("", 0, {});
  EXPECT_EQ(s.index, 0);
  EXPECT_EQ(s.count, 1);
  s = resolve("2/5", 0, {{"SLURM_ARRAY_TASK_ID", "1"}});  // the flag wins
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  // Slurm arrays may start at 1 (--array=1-4): the index counts from SLURM_ARRAY_TASK_MIN.
  s = resolve("", 0,
              {{"SLURM_ARRAY_TASK_ID", "3"},
               {"SLURM_ARRAY_TASK_MIN", "1"},
               {"SLURM_ARRAY_TASK_COUNT", "4"}});
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.source, "SLURM_ARRAY_TASK_ID");
  s = resolve("", 0, {{"JOB_COMPLETION_INDEX", "6"}, {"SIMLAB_SHARD_COUNT", "8"}});
  EXPECT_EQ(s.index, 6);
  EXPECT_EQ(s.count, 8);
  s = resolve("", 8, {{"JOB_COMPLETION_INDEX", "7"}});
  EXPECT_EQ(s.index, 7);
  EXPECT_EQ(shard_stem(s), "shard-00007-of-00008");

  EXPECT_NE(error_of([] { resolve("4/4", 0, {}); }).find("outside [0, 4)"), std::string::npos);
  EXPECT_NE(error_of([] { resolve("1-4", 0, {}); }).find("shard: expected INDEX/COUNT"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              resolve("", 0, {{"JOB_COMPLETION_INDEX", "1"}});
            }).find("SIMLAB_SHARD_COUNT"),
            std::string::npos);
  EXPECT_NE(error_of([] { resolve("1/4", 3, {}); }).find("disagrees"), std::string::npos);
  EXPECT_NE(error_of([] {
              resolve("", 0, {{"SLURM_ARRAY_TASK_ID", "x"}});
            }).find("SLURM_ARRAY_TASK_ID: expected a whole number"),
            std::string::npos);
  EXPECT_NE(error_of([] { resolve("", 4, {}); }).find("gives the count only"), std::string::npos);
}

TEST(Shard, ShardsPartitionTheEpisodes) {
  for (int n = 1; n <= 5; ++n) {
    std::multiset<std::int64_t> all;
    for (int i = 0; i < n; ++i)
      for (auto k : shard_episodes(11, Shard{i, n})) {
        EXPECT_EQ(k % n, i);
        all.insert(k);
      }
    ASSERT_EQ(all.size(), 11u);
    for (std::int64_t k = 0; k < 11; ++k)
      EXPECT_EQ(all.count(k), 1u);
  }
}

DatasetLayout layout() {
  DatasetLayout L;
  L.obs_dim = 2;
  L.act_dim = 1;
  return L;
}

Episode episode(std::int64_t k) {
  Episode e;
  e.index = k;
  e.steps = 2;
  e.state_dim = 1;
  e.obs = {float(k), 1, 2, 3, 4, 5};
  e.actions = {0.5f, -0.5f};
  e.rewards = {1, 2};
  e.dones = {0, 1};
  e.states = {double(k), 1};
  return e;
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  return dir;
}

std::unique_ptr<ShardStore> store(const fs::path& dir, nlohmann::json job = {{"seed", 1}},
                                  Shard shard = {0, 2}) {
  return std::make_unique<ShardStore>(dir, shard, layout(), "{}", std::move(job), "test", 2);
}

TEST(ShardStore, ResumeKeepsCommittedPartsAndDropsTheTornOne) {
  const auto dir = fresh_dir("simlab_shard_resume");
  {
    auto s = store(dir);
    s->open(Existing::kFail);
    for (std::int64_t k : {0, 2, 4})  // two fill a part (committed), the third is in progress
      s->write(episode(k));
    EXPECT_EQ(s->committed().size(), 2u);
    EXPECT_TRUE(fs::exists(dir / "shard-00000-of-00002.part-00000.hdf5"));
    EXPECT_TRUE(fs::exists(dir / "shard-00000-of-00002.part-00001.hdf5.tmp"));
  }
  // A SIGKILL leaves a torn part behind: here, garbage.
  std::ofstream(dir / "shard-00000-of-00002.part-00001.hdf5.tmp") << "torn";

  const auto refused = error_of([&] { store(dir)->open(Existing::kFail); });
  EXPECT_NE(refused.find("already holds shard 0 of 2 (shard-00000-of-00002.part-00000.hdf5 and 2 "
                         "more); pass --resume to continue it or --overwrite to start it over"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(fs::exists(dir / "shard-00000-of-00002.part-00000.hdf5"));  // nothing touched

  // Other settings: refused, naming the difference.
  EXPECT_NE(error_of([&] {
              store(dir, {{"seed", 2}})->open(Existing::kResume);
            }).find("seed is 2 here and 1 there"),
            std::string::npos);

  auto s = store(dir);
  s->open(Existing::kResume);
  EXPECT_FALSE(fs::exists(dir / "shard-00000-of-00002.part-00001.hdf5.tmp"));
  ASSERT_EQ(s->committed().size(), 2u);
  EXPECT_TRUE(s->committed().count(0) && s->committed().count(2));
  EXPECT_EQ(s->committed().at(2).hash, episode_hash(episode(2)));
  for (std::int64_t k : {4, 6, 8})
    s->write(episode(k));
  const auto record = s->finish();
  EXPECT_TRUE(record.complete);
  EXPECT_EQ(record.episodes.size(), 5u);
  EXPECT_EQ(record.steps, 10);
  EXPECT_EQ(record.file, "shard-00000-of-00002.hdf5");
  DatasetReader r(dir / record.file);
  ASSERT_EQ(r.demos().size(), 5u);
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_EQ(r.demos()[i].index, static_cast<std::int64_t>(2 * i));
  // Only the shard, its record and its (empty, released) lock file remain.
  s.reset();  // the run ends: its lock is released
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"shard-00000-of-00002.hdf5", "shard-00000-of-00002.json",
                                          ".shard-00000-of-00002.lock"}));
  EXPECT_EQ(fs::file_size(dir / ".shard-00000-of-00002.lock"), 0u);

  // Resuming a finished shard has nothing left to do.
  auto again = store(dir);
  again->open(Existing::kResume);
  EXPECT_TRUE(again->finished());
  EXPECT_EQ(again->committed().size(), 5u);

  // The manifest needs every shard.
  EXPECT_NE(error_of([&] { merge_manifest(dir, "test", true); }).find("missing: 1"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(ShardStore, OverwriteRemovesOnlyThisShardAndOtherJobsAreRefused) {
  const auto dir = fresh_dir("simlab_shard_overwrite");
  for (int i = 0; i < 2; ++i) {
    auto s = store(dir, {{"seed", 1}}, {i, 2});
    s->open(Existing::kFail);
    s->write(episode(i));
    s->finish();
  }
  const auto m = merge_manifest(dir, "test", true);
  EXPECT_EQ(m["episodes"], 2);
  EXPECT_EQ(m["shards"][1]["episode_hashes"]["1"], episode_hash(episode(1)));

  auto s = store(dir, {{"seed", 1}}, {1, 2});
  s->open(Existing::kOverwrite);
  EXPECT_TRUE(fs::exists(dir / "shard-00000-of-00002.hdf5"));
  EXPECT_FALSE(fs::exists(dir / "shard-00001-of-00002.hdf5"));
  EXPECT_FALSE(fs::exists(dir / "manifest.json"));
  // While it is open, a second writer of shard 1 is refused; shard 0 is free.
  EXPECT_NE(error_of([&] {
              store(dir, {{"seed", 1}}, {1, 2})->open(Existing::kResume);
            }).find("shard 1 of 2 in " + dir.string() + " is being written by another simlab"),
            std::string::npos);
  s.reset();

  // Another job's shards in the folder: refused, even with --overwrite.
  EXPECT_NE(error_of([&] {
              store(dir, {{"seed", 1}}, {0, 3})->open(Existing::kOverwrite);
            }).find("holds files of a job with 2 shards"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              store(dir, {{"seed", 5}}, {1, 2})->open(Existing::kOverwrite);
            }).find("shard 0 was made with other settings (seed is 5 here and 1 there)"),
            std::string::npos);
  fs::remove_all(dir);
}

// A committed part is verified against its checksum on --resume: damage is refused naming the
// part, with the way out (its episodes are deterministic: remove it and resume).
TEST(ShardStore, ADamagedCommittedPartIsRefusedOnResume) {
  const auto dir = fresh_dir("simlab_shard_damaged_part");
  {
    auto s = store(dir);
    s->open(Existing::kFail);
    s->write(episode(0));
    s->write(episode(2));  // a part of 2 committed
  }
  const auto part = dir / "shard-00000-of-00002.part-00000.hdf5";
  ASSERT_TRUE(fs::exists(sum_path(part)));
  {
    std::fstream f(part, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(part) / 2));
    f.write("xx", 2);
  }
  const auto what = error_of([&] { store(dir)->open(Existing::kResume); });
  EXPECT_NE(what.find(part.string() + ": this committed part is damaged"), std::string::npos)
      << what;
  EXPECT_NE(what.find("delete it and run with --resume again"), std::string::npos) << what;
  fs::remove(part);
  auto s = store(dir);
  s->open(Existing::kResume);
  EXPECT_TRUE(s->committed().empty());
  EXPECT_FALSE(fs::exists(sum_path(part))) << "its checksum went with it";
  s.reset();
  fs::remove_all(dir);
}

// A file under the finished shard's name that another job (or tool) wrote is not taken for it.
TEST(ShardStore, AForeignFileUnderTheShardsNameIsRefused) {
  const auto dir = fresh_dir("simlab_shard_foreign");
  fs::create_directories(dir);
  {
    DatasetWriter w(dir / "shard-00000-of-00002.hdf5", layout(), "{}", R"({"seed": 9})");
    const auto e = episode(0);
    w.write(e, episode_hash(e));
    w.close();
  }
  EXPECT_NE(error_of([&] { store(dir)->open(Existing::kResume); })
                .find("shard-00000-of-00002.hdf5: was made with other settings (seed is 1 here "
                      "and 9 there)"),
            std::string::npos);
  {
    DatasetWriter w(dir / "shard-00000-of-00002.hdf5", layout(), "{}", "");
    w.close();
  }
  EXPECT_NE(error_of([&] { store(dir)->open(Existing::kResume); }).find("not a shard written by"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(ShardStore, AnUnwritableFolderIsRefusedUpFront) {
  const auto file = fs::temp_directory_path() / "simlab_shard_not_a_dir";
  std::ofstream(file) << "x";
  EXPECT_NE(error_of([&] {
              store(file / "out")->open(Existing::kFail);
            }).find("cannot create the output folder"),
            std::string::npos);
  fs::remove(file);
}

}  // namespace
}  // namespace simlab::engine::io
