#include "engine/io/shard.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <regex>
#include <unistd.h>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "engine/io/checksum.h"
#include "engine/io/hash.h"

namespace simlab::engine::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A whole non-negative integer, or nullopt.
std::optional<long long> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoll(text);
}

long long env_int(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* value = getenv(name);
  const auto n = parse_count(value ? value : "");
  if (!n)
    throw Error(SourceLocation{.field = name},
                std::string("expected a whole number >= 0, got '") + (value ? value : "") + "'");
  return *n;
}

// The first key whose value differs between two job descriptions, for messages.
std::string first_difference(const json& here, const json& there) {
  for (const auto& [key, value] : here.items()) {
    const auto it = there.find(key);
    if (it == there.end()) return key + " (absent in the folder)";
    if (*it != value) return key + " is " + value.dump() + " here and " + it->dump() + " there";
  }
  for (const auto& [key, value] : there.items())
    if (!here.contains(key)) return key + " (only in the folder)";
  return "nothing";
}

std::string pad5(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%05d", n);
  return buf;
}

}  // namespace

Shard resolve_shard(const std::string& flag, int count_flag,
                    const std::function<const char*(const char*)>& getenv) {
  if (count_flag < 0) throw Error(SourceLocation{.field = "shards"}, "must be >= 1");
  auto checked = [&](long long index, long long count, std::string source) {
    if (count < 1 || count > 99999)
      throw Error(SourceLocation{.field = source},
                  "the shard count must be in [1, 99999], got " + std::to_string(count));
    if (index < 0 || index >= count)
      throw Error(SourceLocation{.field = source}, "shard index " + std::to_string(index) +
                                                       " is outside [0, " + std::to_string(count) +
                                                       ")");
    if (count_flag > 0 && count_flag != count)
      throw Error(SourceLocation{.field = "shards"}, std::to_string(count_flag) +
                                                         " disagrees with " + source + " (" +
                                                         std::to_string(count) + " shards)");
    return Shard{static_cast<int>(index), static_cast<int>(count), std::move(source)};
  };
  if (!flag.empty()) {
    const auto slash = flag.find('/');
    const auto index = parse_count(flag.substr(0, slash));
    const auto count =
        slash == std::string::npos ? std::nullopt : parse_count(flag.substr(slash + 1));
    if (!index || !count)
      throw Error(SourceLocation{.field = "shard"},
                  "expected INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4; got '" + flag + "'");
    return checked(*index, *count, "shard");
  }
  if (getenv("SLURM_ARRAY_TASK_ID")) {
    const long long id = env_int(getenv, "SLURM_ARRAY_TASK_ID");
    const long long min =
        getenv("SLURM_ARRAY_TASK_MIN") ? env_int(getenv, "SLURM_ARRAY_TASK_MIN") : 0;
    long long count = count_flag;
    if (count == 0) {
      if (!getenv("SLURM_ARRAY_TASK_COUNT"))
        throw Error(SourceLocation{.field = "SLURM_ARRAY_TASK_COUNT"},
                    "not set (Slurm sets it for job arrays); pass --shards N");
      count = env_int(getenv, "SLURM_ARRAY_TASK_COUNT");
    }
    return checked(id - min, count, "SLURM_ARRAY_TASK_ID");
  }
  if (getenv("JOB_COMPLETION_INDEX")) {
    const long long index = env_int(getenv, "JOB_COMPLETION_INDEX");
    long long count = count_flag;
    if (count == 0) {
      if (!getenv("SIMLAB_SHARD_COUNT"))
        throw Error(SourceLocation{.field = "JOB_COMPLETION_INDEX"},
                    "a Kubernetes indexed Job gives the index only: set SIMLAB_SHARD_COUNT to the "
                    "Job's completions, or pass --shards N");
      count = env_int(getenv, "SIMLAB_SHARD_COUNT");
    }
    return checked(index, count, "JOB_COMPLETION_INDEX");
  }
  if (count_flag > 1)
    throw Error(SourceLocation{.field = "shards"},
                "gives the count only; the index comes from --shard I/N, SLURM_ARRAY_TASK_ID or "
                "JOB_COMPLETION_INDEX, and none is set");
  return Shard{};
}

std::vector<std::int64_t> shard_episodes(std::int64_t total, const Shard& shard) {
  std::vector<std::int64_t> out;
  for (std::int64_t k = shard.index; k < total; k += shard.count)
    out.push_back(k);
  return out;
}

std::string shard_stem(const Shard& shard) {
  return "shard-" + pad5(shard.index) + "-of-" + pad5(shard.count);
}

ShardStore::ShardStore(fs::path dir, Shard shard, DatasetLayout layout, std::string env_args,
                       json job, std::string simlab_version, int chunk_episodes)
    : dir_(std::move(dir)),
      shard_(std::move(shard)),
      layout_(std::move(layout)),
      env_args_(std::move(env_args)),
      job_(std::move(job)),
      version_(std::move(simlab_version)),
      chunk_episodes_(std::max(1, chunk_episodes)) {}

ShardStore::~ShardStore() {
  // A part that was never committed is not trusted: leave no half-written file behind.
  if (writer_) {
    writer_.reset();
    std::error_code ec;
    fs::remove(fs::path(part_path(next_part_).string() + ".tmp"), ec);
  }
}

fs::path ShardStore::file() const {
  return dir_ / (shard_stem(shard_) + ".hdf5");
}

fs::path ShardStore::part_path(int part) const {
  return dir_ / (shard_stem(shard_) + ".part-" + pad5(part) + ".hdf5");
}

std::vector<fs::path> ShardStore::own_files() const {
  const std::string stem = shard_stem(shard_);
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto name = entry.path().filename().string();
    if (name.rfind(stem + ".", 0) == 0) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void ShardStore::check_other_jobs() const {
  static const std::regex shard_file(R"(shard-(\d+)-of-(\d+)\..*)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto name = entry.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, shard_file)) continue;
    if (std::stoi(m[2]) != shard_.count)
      throw Error(SourceLocation{.file = dir_.string()},
                  "holds files of a job with " + std::to_string(std::stoi(m[2])) + " shards (" +
                      name + "), this one has " + std::to_string(shard_.count) +
                      "; use another --out folder, or remove them");
  }
  for (const auto& r : read_shard_records(dir_)) {
    if (r.job == job_) continue;
    const bool own = r.index == shard_.index && r.count == shard_.count;
    throw Error(SourceLocation{.file = dir_.string()},
                std::string(own ? "the run being resumed" : "shard " + std::to_string(r.index)) +
                    " was made with other settings (" + first_difference(job_, r.job) +
                    "); use the same settings, another --out folder" +
                    (own ? ", or --overwrite" : ""));
  }
}

void ShardStore::load_committed() {
  static const std::regex part_name(R"(.*\.part-(\d+)\.hdf5)");
  for (const auto& path : own_files()) {
    std::smatch m;
    const auto name = path.filename().string();
    if (!std::regex_match(name, m, part_name)) continue;
    try {
      verify_sum_file(path, "committed part");
    } catch (const Error& e) {
      throw Error(e.where(), e.message() +
                                 ". Its episodes come back identical if it is removed: "
                                 "delete it and run with --resume again");
    }
    DatasetReader part(path);
    json job;
    try {
      job = json::parse(part.job());
    } catch (const json::exception&) {
      throw Error(SourceLocation{.file = path.string()}, "has no simlab job settings");
    }
    if (job != job_)
      throw Error(SourceLocation{.file = path.string()},
                  "was made with other settings (" + first_difference(job_, job) +
                      "); use the same settings, another --out folder, or --overwrite");
    for (const auto& d : part.demos()) {
      if (committed_.count(d.index))
        throw Error(SourceLocation{.file = path.string()},
                    "episode " + std::to_string(d.index) + " is in two parts");
      committed_[d.index] = {d.index, d.num_samples, d.hash};
    }
    const int n = std::stoi(m[1]);
    parts_.push_back(n);
    next_part_ = std::max(next_part_, n + 1);
  }
}

void ShardStore::open(Existing existing) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !is_dir(dir_))
    throw Error(SourceLocation{.file = dir_.string(), .field = "out"},
                "cannot create the output folder: " +
                    (ec ? ec.message() : std::string("a file is in the way")));
  // Writable? Ask the file system, not the permission bits (root, read-only mounts, quotas).
  const fs::path probe = dir_ / (".simlab-write-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(SourceLocation{.file = dir_.string(), .field = "out"},
                std::string("the output folder is not writable: ") + std::strerror(errno));
  ::close(fd);
  fs::remove(probe, ec);
  // One writer per shard: a second run of the same shard into this folder (or a resume of it
  // while it runs) is refused before it touches a file. Other shards of the job lock their own.
  lock_ = std::make_unique<FileLock>(dir_ / ("." + shard_stem(shard_) + ".lock"),
                                     "shard " + std::to_string(shard_.index) + " of " +
                                         std::to_string(shard_.count) + " in " + dir_.string(),
                                     this_command());

  const auto own = own_files();
  if (!own.empty()) {
    if (existing == Existing::kFail)
      throw Error(SourceLocation{.file = dir_.string(), .field = "out"},
                  "already holds shard " + std::to_string(shard_.index) + " of " +
                      std::to_string(shard_.count) + " (" + own.front().filename().string() +
                      (own.size() > 1 ? " and " + std::to_string(own.size() - 1) + " more" : "") +
                      "); pass --resume to continue it or --overwrite to start it over");
    if (existing == Existing::kOverwrite) {
      for (const auto& f : own)
        fs::remove(f, ec);
      fs::remove(dir_ / "manifest.json", ec);
    }
  }
  check_other_jobs();
  if (existing != Existing::kResume) return;

  for (const auto& f : own_files()) {
    const std::string name = f.filename().string();
    const bool orphan_sum = f.extension() == ".sum" && !fs::exists(f.parent_path() / f.stem(), ec);
    if (f.extension() == ".tmp" || name.find(".tmp") != std::string::npos || orphan_sum)
      fs::remove(f, ec);
  }
  if (path_exists(file())) {
    // Finished before: the renamed file is whole, but it must be this job's (not a file that
    // another tool or job left under the name); rebuild its record if the run died before it.
    finished_ = true;
    DatasetReader done(file());
    json job;
    try {
      job = json::parse(done.job());
    } catch (const json::exception&) {
      throw Error(SourceLocation{.file = file().string(), .field = "data.attrs.simlab_job"},
                  "missing or not JSON: not a shard written by simlab gen; move it away or pass "
                  "--overwrite");
    }
    if (job != job_)
      throw Error(SourceLocation{.file = file().string()},
                  "was made with other settings (" + first_difference(job_, job) +
                      "); use the same settings, another --out folder, or --overwrite");
    for (const auto& d : done.demos())
      committed_[d.index] = {d.index, d.num_samples, d.hash};
    const fs::path rec = dir_ / (shard_stem(shard_) + ".json");
    if (!path_exists(rec) || !ShardRecord::from_json(read_json(rec), rec.string()).complete)
      write_json_atomic(rec, record(true).to_json());
    remove_parts();
    return;
  }
  load_committed();
}

void ShardStore::write(const Episode& episode) {
  const fs::path tmp = part_path(next_part_).string() + ".tmp";
  try {
    if (!writer_) writer_ = std::make_unique<DatasetWriter>(tmp, layout_, env_args_, job_.dump());
    const std::string hash = episode_hash(episode);
    writer_->write(episode, hash);
    pending_.push_back({episode.index, episode.steps, hash});
    if (static_cast<int>(pending_.size()) >= chunk_episodes_) commit_part();
  } catch (...) {
    // Drop the part in progress; committed parts stay as they are.
    writer_.reset();
    pending_.clear();
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void ShardStore::commit_part() {
  if (!writer_) return;
  const fs::path final = part_path(next_part_), tmp = final.string() + ".tmp";
  writer_->close();
  writer_.reset();
  // Its checksum first (PART.sum), so that every committed part has one: --resume verifies it.
  write_json_atomic(sum_path(final), file_sum(tmp).to_json());
  std::error_code ec;
  fs::rename(tmp, final, ec);
  if (ec)
    throw Error(SourceLocation{.file = final.string()},
                "cannot rename into place: " + ec.message());
  sync_dir(dir_);
  bytes_written_ += fs::file_size(final, ec);
  for (auto& e : pending_)
    committed_[e.id] = std::move(e);
  pending_.clear();
  parts_.push_back(next_part_++);
}

ShardRecord ShardStore::record(bool complete) const {
  ShardRecord r;
  r.index = shard_.index;
  r.count = shard_.count;
  r.complete = complete;
  r.job = job_;
  r.simlab_version = version_;
  for (const auto& [id, e] : committed_) {
    r.episodes.push_back(e);
    r.steps += e.steps;
  }
  if (complete) {
    r.file = file().filename().string();
    r.bytes = fs::file_size(file());
    r.crc32 = crc32_file(file());
  } else {
    for (int p : parts_)
      r.parts.push_back(part_path(p).filename().string());
  }
  return r;
}

void ShardStore::write_partial_record() {
  write_json_atomic(dir_ / (shard_stem(shard_) + ".json"), record(false).to_json());
}

ShardRecord ShardStore::place(const fs::path& whole) {
  std::error_code ec;
  fs::rename(whole, file(), ec);
  if (ec)
    throw Error(SourceLocation{.file = file().string()},
                "cannot rename into place: " + ec.message());
  sync_dir(dir_);
  finished_ = true;
  const ShardRecord r = record(true);
  write_json_atomic(dir_ / (shard_stem(shard_) + ".json"), r.to_json());
  return r;
}

// Every part file of this shard, committed or torn: none outlives the finished shard.
void ShardStore::remove_parts() {
  static const std::regex part_name(R"(.*\.part-\d+\.hdf5(\.tmp|\.sum)?)");
  std::error_code ec;
  for (const auto& f : own_files())
    if (std::regex_match(f.filename().string(), part_name)) fs::remove(f, ec);
  sync_dir(dir_);
}

ShardRecord ShardStore::finish() {
  const fs::path rec = dir_ / (shard_stem(shard_) + ".json");
  if (finished_) return ShardRecord::from_json(read_json(rec), rec.string());
  commit_part();
  std::vector<fs::path> parts;
  for (int p : parts_)
    parts.push_back(part_path(p));
  const fs::path tmp = file().string() + ".tmp";
  std::error_code ec;
  if (parts.size() == 1) {
    // One part is already a whole shard file: rename it, no copy.
    const ShardRecord r = place(parts[0]);
    remove_parts();
    return r;
  }
  try {
    if (parts.empty()) {
      DatasetWriter empty(tmp, layout_, env_args_, job_.dump());
      empty.close();
    } else {
      merge_files(parts, tmp);
    }
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  const ShardRecord r = place(tmp);
  remove_parts();
  return r;
}

}  // namespace simlab::engine::io
