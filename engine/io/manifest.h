// What a dataset folder says about itself, as JSON beside the HDF5 files:
//
//   shard-00000-of-00004.json   one shard: status (complete or partial), its file (or committed
//                               parts), every episode with its steps and content hash, size and
//                               CRC-32 of the file, the job settings and the simlab version
//   manifest.json               all shards of one job (written when the last shard finishes, or
//                               by `simlab gen merge DIR`): the union of the shard records, with
//                               totals and the seeds
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace simlab::engine::io {

struct EpisodeRecord {
  std::int64_t id = 0;  // the episode's index in the whole job
  std::int64_t steps = 0;
  std::string hash;  // episode_hash()
};

struct ShardRecord {
  int index = 0, count = 1;
  bool complete = false;
  std::string file;                // complete: the shard's HDF5 file name (in the folder)
  std::vector<std::string> parts;  // partial: committed part files
  std::vector<EpisodeRecord> episodes;
  std::int64_t steps = 0;
  std::uintmax_t bytes = 0;
  std::string crc32;  // of `file`
  nlohmann::json job;
  std::string simlab_version;

  nlohmann::json to_json() const;
  // Throws simlab::Error naming `where` on a malformed record.
  static ShardRecord from_json(const nlohmann::json& j, const std::string& where);
};

// Write JSON through a temporary file and a rename, so readers never see half a file.
void write_json_atomic(const std::filesystem::path& file, const nlohmann::json& j);
nlohmann::json read_json(const std::filesystem::path& file);  // throws simlab::Error

// Every shard-*-of-*.json record in `dir`, ordered by shard index.
std::vector<ShardRecord> read_shard_records(const std::filesystem::path& dir);

// One manifest over all shards of `dir`: checks that every shard of the job is there and
// complete, that they share one job and no episode twice, and that each file has its recorded
// size (and CRC-32 with `verify`); writes dir/manifest.json and returns it. Throws simlab::Error
// naming what is missing or inconsistent.
nlohmann::json merge_manifest(const std::filesystem::path& dir, const std::string& simlab_version,
                              bool verify);

}  // namespace simlab::engine::io
