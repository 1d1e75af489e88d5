#include "engine/io/manifest.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <unistd.h>

#include "engine/core/error.h"
#include "engine/io/dataset.h"
#include "engine/io/hash.h"

namespace simlab::engine::io {

namespace fs = std::filesystem;
using nlohmann::json;

json ShardRecord::to_json() const {
  json eps = json::array();
  for (const auto& e : episodes)
    eps.push_back({{"id", e.id}, {"steps", e.steps}, {"hash", e.hash}});
  json j = {{"format", "simlab-dataset-shard"},
            {"simlab_version", simlab_version},
            {"shard", {{"index", index}, {"count", count}}},
            {"status", complete ? "complete" : "partial"},
            {"episode_count", episodes.size()},
            {"steps", steps},
            {"job", job},
            {"episodes", eps}};
  if (complete) {
    j["file"] = file;
    j["bytes"] = bytes;
    j["crc32"] = crc32;
  } else {
    j["parts"] = parts;
  }
  return j;
}

namespace {

// j[key] as a whole number in [lo, hi] (lo <= hi, both >= 0 here): get<int>() alone would cast a
// float or an out-of-range value unchecked (1e300, or -1 as a size). Throws simlab::Error.
std::int64_t whole(const json& j, const char* key, std::int64_t lo, std::int64_t hi,
                   const std::string& where) {
  const json& v = j.at(key);
  bool ok = false;
  std::int64_t x = 0;
  if (v.is_number_unsigned()) {
    ok = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi);
    if (ok) x = static_cast<std::int64_t>(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    ok = true;
    x = v.get<std::int64_t>();
  }
  if (!ok || x < lo || x > hi)
    throw Error(SourceLocation{.file = where, .field = key},
                "malformed shard record: expected a whole number in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "], got " + v.dump());
  return x;
}

}  // namespace

ShardRecord ShardRecord::from_json(const json& j, const std::string& where) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  try {
    ShardRecord r;
    // The shard count's range is resolve_shard's.
    r.count = static_cast<int>(whole(j.at("shard"), "count", 1, 99999, where));
    r.index = static_cast<int>(whole(j.at("shard"), "index", 0, r.count - 1, where));
    r.complete = j.at("status").get<std::string>() == "complete";
    r.steps = whole(j, "steps", 0, kMax, where);
    r.job = j.at("job");
    r.simlab_version = j.value("simlab_version", "");
    for (const auto& e : j.at("episodes"))
      r.episodes.push_back({whole(e, "id", 0, kMax, where), whole(e, "steps", 0, kMax, where),
                            e.at("hash").get<std::string>()});
    if (r.complete) {
      r.file = j.at("file").get<std::string>();
      r.bytes = static_cast<std::uintmax_t>(whole(j, "bytes", 0, kMax, where));
      r.crc32 = j.at("crc32").get<std::string>();
    } else {
      r.parts = j.value("parts", std::vector<std::string>{});
    }
    return r;
  } catch (const json::exception& e) {
    throw Error(SourceLocation{.file = where}, std::string("malformed shard record: ") + e.what());
  }
}

void write_json_atomic(const fs::path& file, const json& j) {
  const fs::path tmp = file.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out)
      throw Error(SourceLocation{.file = tmp.string()},
                  "cannot write (is the disk full, or the folder read-only?)");
  }
  sync_file(tmp);
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(SourceLocation{.file = file.string()}, "cannot rename into place: " + ec.message());
  }
  sync_dir(file.parent_path());
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "cannot read");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(SourceLocation{.file = file.string()}, std::string("not valid JSON: ") + e.what());
  }
}

std::vector<ShardRecord> read_shard_records(const fs::path& dir) {
  static const std::regex name(R"(shard-(\d+)-of-(\d+)\.json)");
  std::vector<ShardRecord> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto file = entry.path().filename().string();
    if (!std::regex_match(file, name)) continue;
    out.push_back(ShardRecord::from_json(read_json(entry.path()), entry.path().string()));
  }
  std::sort(out.begin(), out.end(), [](const ShardRecord& a, const ShardRecord& b) {
    return a.count != b.count ? a.count < b.count : a.index < b.index;
  });
  return out;
}

json merge_manifest(const fs::path& dir, const std::string& simlab_version, bool verify) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(SourceLocation{.file = dir.string()}, "no such folder");
  const auto records = read_shard_records(dir);
  if (records.empty())
    throw Error(SourceLocation{.file = dir.string()},
                "no shard records (shard-*-of-*.json): not a simlab dataset folder, or no shard "
                "has finished yet");
  const int count = records[0].count;
  const json& job = records[0].job;
  std::map<int, const ShardRecord*> by_index;
  for (const auto& r : records) {
    const std::string where = (dir / ("shard record " + std::to_string(r.index))).string();
    if (r.count != count || r.job != job)
      throw Error(SourceLocation{.file = dir.string()},
                  "the folder holds shards of different jobs (shard " + std::to_string(r.index) +
                      " of " + std::to_string(r.count) + " vs shard " +
                      std::to_string(records[0].index) + " of " + std::to_string(count) +
                      "); keep one job per folder");
    by_index[r.index] = &r;
  }
  std::string missing, partial;
  for (int i = 0; i < count; ++i) {
    const auto it = by_index.find(i);
    if (it == by_index.end())
      missing += (missing.empty() ? "" : ", ") + std::to_string(i);
    else if (!it->second->complete)
      partial += (partial.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!missing.empty() || !partial.empty())
    throw Error(
        SourceLocation{.file = dir.string()},
        "not every shard of " + std::to_string(count) + " has finished" +
            (missing.empty() ? "" : "; missing: " + missing) +
            (partial.empty() ? "" : "; partial (run them again with --resume): " + partial));

  json shards = json::array();
  std::map<std::int64_t, int> seen;
  std::int64_t steps = 0, episodes = 0;
  std::uintmax_t bytes = 0;
  for (const auto& [i, r] : by_index) {
    const fs::path file = dir / r->file;
    const auto size = fs::file_size(file, ec);
    if (ec || size != r->bytes)
      throw Error(SourceLocation{.file = file.string()},
                  ec ? "missing: " + ec.message()
                     : "has " + std::to_string(size) + " bytes, its record says " +
                           std::to_string(r->bytes) + " (damaged or replaced)");
    if (verify && crc32_file(file) != r->crc32)
      throw Error(SourceLocation{.file = file.string()},
                  "CRC-32 differs from its record " + r->crc32 + " (damaged)");
    json ids = json::array(), hashes = json::object();
    for (const auto& e : r->episodes) {
      if (auto [it, fresh] = seen.emplace(e.id, i); !fresh)
        throw Error(SourceLocation{.file = dir.string()},
                    "episode " + std::to_string(e.id) + " is in shards " +
                        std::to_string(it->second) + " and " + std::to_string(i));
      ids.push_back(e.id);
      hashes[std::to_string(e.id)] = e.hash;
    }
    shards.push_back({{"index", i},
                      {"file", r->file},
                      {"episodes", r->episodes.size()},
                      {"steps", r->steps},
                      {"bytes", r->bytes},
                      {"crc32", r->crc32},
                      {"simlab_version", r->simlab_version},
                      {"episode_ids", ids},
                      {"episode_hashes", hashes}});
    steps += r->steps;
    episodes += static_cast<std::int64_t>(r->episodes.size());
    bytes += r->bytes;
  }
  const json manifest = {
      {"format", "simlab-dataset"},
      {"format_version", 1},
      {"simlab_version", simlab_version},
      {"layout", "robomimic: data/demo_K/{obs/*, next_obs/*, actions, rewards, dones, states}"},
      {"job", job},
      {"seeds",
       {{"job", job.value("seed", json(0))},
        {"episode_k",
         "episode k is the first episode of env k of a VectorEnv with the job's seed: Philox "
         "streams keyed by (seed, k), whatever the shard count"}}},
      {"shard_count", count},
      {"episodes", episodes},
      {"steps", steps},
      {"bytes", bytes},
      {"shards", shards}};
  write_json_atomic(dir / "manifest.json", manifest);
  return manifest;
}

}  // namespace simlab::engine::io
