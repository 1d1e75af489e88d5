// A job's episodes split over shards, and one shard's files in the output folder.
//
// Sharding: the job has episodes 0..E-1; shard i of N takes every episode k with k % N == i.
// Episode k's data depends on (scene, seed, k) only (engine/episode_rollout.h), so the union of the
// N shards equals a one-shard run with the same seed. The shard comes from --shard I/N, else from
// Slurm (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT), else from a
// Kubernetes indexed Job (JOB_COMPLETION_INDEX, with the count from --shards or
// SIMLAB_SHARD_COUNT), else 0 of 1.
//
// Files of shard i of N in the folder (STEM = shard-0000i-of-0000N):
//   STEM.part-00007.hdf5.tmp   the part being written (never trusted: removed on --resume)
//   STEM.part-00007.hdf5       a committed part: --chunk-episodes finished episodes, closed,
//                              fsync'ed and renamed into place (rename is atomic)
//   STEM.hdf5.tmp              the shard file being assembled from the parts
//   STEM.hdf5                  the finished shard (assembled, fsync'ed, renamed); parts removed
//   STEM.json                  the shard's record (engine/io/manifest.h)
// After a SIGKILL anywhere, the committed parts (or the finished shard) hold whole episodes, and
// --resume simulates exactly the episodes that no committed part holds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/dataset.h"
#include "engine/io/lock.h"
#include "engine/io/manifest.h"

namespace simlab::engine::io {

struct Shard {
  int index = 0, count = 1;
  std::string source = "default";  // where index and count came from, for messages
};

// `flag`: "I/N" or ""; `count_flag`: a shard count alone (0: none); `getenv` reads the
// environment (tests pass their own). Throws simlab::Error on malformed or inconsistent values.
Shard resolve_shard(const std::string& flag, int count_flag,
                    const std::function<const char*(const char*)>& getenv);

// The episodes of `shard` among 0..total-1, ascending.
std::vector<std::int64_t> shard_episodes(std::int64_t total, const Shard& shard);

// "shard-00002-of-00008"
std::string shard_stem(const Shard& shard);

enum class Existing { kFail, kResume, kOverwrite };

class ShardStore {
 public:
  // `job`: the settings that determine the data (compared on --resume); `env_args` goes into
  // every file's data.attrs.
  ShardStore(std::filesystem::path dir, Shard shard, DatasetLayout layout, std::string env_args,
             nlohmann::json job, std::string simlab_version, int chunk_episodes);
  ~ShardStore();

  // Make the folder and check it is writable; then, if this shard has files there already: kFail
  // throws (touching nothing), kOverwrite removes them, kResume keeps what was committed. Files of
  // another job in the folder always throw. Call before anything else.
  void open(Existing existing);

  // Episodes already committed (after open(kResume)); the finished shard counts as committed.
  const std::map<std::int64_t, EpisodeRecord>& committed() const { return committed_; }
  bool finished() const { return finished_; }
  int parts_committed() const { return static_cast<int>(parts_.size()); }

  // Writer thread: add an episode to the part in progress; commit it every chunk_episodes.
  void write(const Episode& episode);
  // Close and commit the part in progress, if any.
  void commit_part();
  // Record a partial shard (after an interruption): STEM.json with status "partial".
  void write_partial_record();
  // Every episode is in: assemble the parts into STEM.hdf5, write STEM.json, remove the parts.
  ShardRecord finish();

  const std::filesystem::path& dir() const { return dir_; }
  // After open(): "" or a note that a killed run's lock on this shard was taken over.
  std::string lock_notice() const { return lock_ ? lock_->notice() : ""; }
  std::filesystem::path file() const;  // STEM.hdf5
  std::uintmax_t bytes_written() const { return bytes_written_; }

 private:
  // Rename a whole shard file into place and write its record.
  ShardRecord place(const std::filesystem::path& whole);
  std::filesystem::path part_path(int part) const;
  std::vector<std::filesystem::path> own_files() const;
  ShardRecord record(bool complete) const;
  void check_other_jobs() const;
  void remove_parts();
  void load_committed();

  std::filesystem::path dir_;
  Shard shard_;
  DatasetLayout layout_;
  std::string env_args_;
  nlohmann::json job_;
  std::string version_;
  int chunk_episodes_;
  std::map<std::int64_t, EpisodeRecord> committed_;
  std::vector<EpisodeRecord> pending_;  // in the part in progress
  std::vector<int> parts_;              // committed part numbers
  int next_part_ = 0;
  bool finished_ = false;
  std::unique_ptr<DatasetWriter> writer_;
  std::unique_ptr<FileLock> lock_;  // held from open() on (engine/io/lock.h)
  std::uintmax_t bytes_written_ = 0;
};

}  // namespace simlab::engine::io
