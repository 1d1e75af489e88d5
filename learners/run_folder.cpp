#include "learners/run_folder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/core/paths.h"
#include "engine/io/checksum.h"
#include "engine/io/event_file.h"
#include "engine/io/image.h"
#include "engine/io/lock.h"

namespace simlab::learners::detail {
namespace fs = std::filesystem;

Error train_error(const std::string& field, const std::string& message) {
  return Error(SourceLocation{.field = field}, message);
}

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void RecentReturns::add(double episode_return) {
  returns_.push_back(episode_return);
  if (returns_.size() > 20) returns_.pop_front();
}

nlohmann::json RecentReturns::mean() const {
  if (returns_.empty()) return nullptr;
  double mean = 0;
  for (double r : returns_)
    mean += r / static_cast<double>(returns_.size());
  return mean;
}

void write_progress(torch::serialize::OutputArchive& archive,
                    const std::vector<std::int64_t>& counters, double wall_s,
                    const RecentReturns& recent) {
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  archive.write("counters", torch::tensor(counters, torch::kInt64));
  archive.write("wall_s", torch::tensor(wall_s, torch::kFloat64));
  archive.write("recent",
                torch::tensor(std::vector<double>(recent.returns_.begin(), recent.returns_.end()),
                              torch::kFloat64));
}

std::vector<std::int64_t> read_progress(torch::serialize::InputArchive& archive, double& wall_s,
                                        RecentReturns& recent) {
  torch::Tensor rng, counters, wall, returns;
  archive.read("rng", rng);
  auto generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(rng);
  archive.read("counters", counters);
  archive.read("wall_s", wall);
  wall_s = wall.item<double>();
  archive.read("recent", returns);
  recent.returns_.clear();
  for (std::int64_t i = 0; i < returns.size(0); ++i)
    recent.returns_.push_back(returns[i].item<double>());
  const auto c = counters.contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

void save_atomically(torch::serialize::OutputArchive& archive, const fs::path& file) {
  engine::io::SummedFileWriter out(file);
  // Our own writes, so a full disk or the file size limit is a message naming the file. After a
  // failure the rest is dropped but reported as written: LibTorch's zip writer, told of a short
  // write, fails in a destructor and ends the process.
  std::optional<Error> failed;
  try {
    archive.save_to([&](const void* data, std::size_t bytes) -> std::size_t {
      if (failed) return bytes;
      try {
        out.write(data, bytes);
      } catch (const Error& e) {
        failed = e;
      }
      return bytes;
    });
  } catch (const c10::Error& e) {
    if (failed) throw *failed;
    throw Error(SourceLocation{.file = file.string()},
                std::string("cannot write the checkpoint: ") + e.what_without_backtrace());
  }
  if (failed) throw *failed;
  out.commit();
}

void load_archive(torch::serialize::InputArchive& archive, const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw Error(SourceLocation{.file = file.string()}, "no such checkpoint");
  engine::io::verify_sum_file(file, "checkpoint");
  try {
    archive.load_from(file.string(), torch::kCPU);
  } catch (const c10::Error&) {
    throw Error(SourceLocation{.file = file.string()}, "not a readable checkpoint");
  }
}

namespace {

// Every parameter and buffer of `module` (and its children) against the archive `module.save`
// wrote: present, same shape and type. Run before load(), which would otherwise re-point the
// module's tensors at whatever the file holds.
void check_module(const torch::nn::Module& module, torch::serialize::InputArchive& archive,
                  const fs::path& file, const std::string& prefix) {
  auto check = [&](const std::string& key, const torch::Tensor& want, bool buffer) {
    torch::Tensor have;
    if (!archive.try_read(key, have, buffer))
      throw Error(SourceLocation{.file = file.string(), .field = prefix + key},
                  "missing from the checkpoint: it does not belong to this run's configuration");
    if (have.sizes() != want.sizes() || have.scalar_type() != want.scalar_type()) {
      std::ostringstream msg;
      msg << "the checkpoint holds " << have.scalar_type() << " " << have.sizes()
          << "; this run's configuration makes " << want.scalar_type() << " " << want.sizes();
      throw Error(SourceLocation{.file = file.string(), .field = prefix + key}, msg.str());
    }
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    check(b.key(), b.value(), true);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive inner;
    if (!archive.try_read(child.key(), inner))
      throw Error(SourceLocation{.file = file.string(), .field = prefix + child.key()},
                  "missing from the checkpoint: it does not belong to this run's configuration");
    check_module(*child.value(), inner, file, prefix + child.key() + ".");
  }
}

}  // namespace

void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                 const fs::path& file, const std::string& name) {
  check_module(module, archive, file, name + ".");
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    throw Error(SourceLocation{.file = file.string(), .field = name},
                std::string("cannot be read: ") + e.what_without_backtrace());
  }
}

namespace {

// The first key whose value differs between two configurations ("" when they match), ignoring
// the total step count, which a resume may extend.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  for (const auto& [key, value] : a.items()) {
    if (key == "steps") continue;
    if (!b.contains(key)) return key;
    if (value.is_object()) {
      const auto inner = first_difference(value, b.at(key));
      if (!inner.empty()) return key + "." + inner;
    } else if (value != b.at(key)) {
      return key;
    }
  }
  for (const auto& [key, value] : b.items())
    if (key != "steps" && !a.contains(key)) return key;
  return "";
}

}  // namespace

RunFolder::RunFolder(const TrainConfig& config, std::vector<std::string> columns, bool writer)
    : dir_(config.out),
      columns_(std::move(columns)),
      writer_(writer),
      title_(std::string(algo_name(config.algo)) + " on " + config.scene) {
  const auto wanted = config.to_json();
  config_text_ = wanted.dump(2);
  if (writer_) {
    // One writer per run folder, taken before anything in it is read or written: two resumes of
    // one run at once would interleave metrics.csv and race for the checkpoint.
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec || !engine::is_dir(dir_))
      throw train_error("out", "cannot create " + dir_.string() + ": " +
                                   (ec ? ec.message() : std::string("a file is in the way")));
    lock_ = std::make_unique<engine::io::FileLock>(
        dir_ / ".simlab.lock", "run folder " + dir_.string(), engine::io::this_command());
    if (!lock_->notice().empty()) std::fprintf(stderr, "simlab: %s\n", lock_->notice().c_str());
  }
  if (writer_ && engine::path_exists(dir_ / "config.json") && !config.resume && !config.overwrite)
    throw train_error("out", dir_.string() +
                                 " holds a run already: --resume continues it, --overwrite "
                                 "starts over");
  if (config.resume) {
    if (!engine::path_exists(checkpoint()))
      throw train_error("resume", "no checkpoint in " + dir_.string() + " to resume from");
    if (!engine::path_exists(dir_ / "config.json"))
      throw Error(SourceLocation{.file = (dir_ / "config.json").string()},
                  "missing: the run folder has a checkpoint but not the configuration it was "
                  "trained with, so it cannot be resumed");
    std::ifstream in(dir_ / "config.json");
    nlohmann::json saved;
    try {
      in >> saved;
    } catch (const nlohmann::json::exception&) {
      throw Error(SourceLocation{.file = (dir_ / "config.json").string()}, "not valid JSON");
    }
    if (const auto key = first_difference(saved, wanted); !key.empty()) {
      std::string pointer = "/" + key;
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      const nlohmann::json::json_pointer at(pointer);
      throw train_error("resume",
                        dir_.string() + " was trained with another configuration: '" + key +
                            "' differs (" + (saved.contains(at) ? saved[at].dump() : "absent") +
                            " there, " + (wanted.contains(at) ? wanted[at].dump() : "absent") +
                            " here)");
    }
  } else if (writer_) {
    if (config.overwrite) {
      for (const char* name : {"metrics.jsonl", "metrics.csv", "checkpoint.pt"})
        fs::remove(dir_ / name);
    }
    std::error_code ec;
    fs::create_directories(dir_, ec);
    std::ofstream out(dir_ / "config.json");
    out << wanted.dump(2) << "\n";
    if (!out) throw train_error("out", "cannot write " + (dir_ / "config.json").string());
  }
}

RunFolder::~RunFolder() = default;

void RunFolder::log_events(const std::function<void(engine::io::EventWriter&)>& write) {
  if (!events_) return;
  try {
    write(*events_);
    events_->flush();
  } catch (const Error& e) {
    std::fprintf(stderr, "warning: %s; TensorBoard logging stops, training goes on\n", e.what());
    events_.reset();
  }
}

void RunFolder::start(std::int64_t iteration) {
  if (!writer_) return;
  // One event file that mirrors metrics.jsonl: earlier ones (a resumed run's, which may hold
  // iterations past its checkpoint) are replaced by the rows kept below.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      fs::remove(entry.path(), ec);
  events_.reset();
  try {
    events_ = std::make_unique<engine::io::EventWriter>(dir_);
  } catch (const Error& e) {
    std::fprintf(stderr, "warning: %s; training goes on without TensorBoard logs\n", e.what());
  }
  log_events(
      [&](engine::io::EventWriter& w) { w.text("config", "```json\n" + config_text_ + "\n```"); });
  const std::string& key = columns_.front();
  std::vector<std::string> kept;
  std::ifstream in(dir_ / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (nlohmann::json::parse(line).at(key).get<std::int64_t>() > iteration) break;
    kept.push_back(line);
  }
  in.close();
  std::ofstream jsonl(dir_ / "metrics.jsonl", std::ios::trunc);
  std::ofstream csv(dir_ / "metrics.csv", std::ios::trunc);
  for (std::size_t i = 0; i < columns_.size(); ++i)
    csv << (i ? "," : "") << columns_[i];
  csv << "\n";
  jsonl.close();
  csv.close();
  steps_.clear();
  mean_return_.clear();
  for (const auto& line : kept)
    append(nlohmann::json::parse(line));
}

void RunFolder::append(const nlohmann::json& row) {
  steps_.push_back(row.at("env_steps").get<double>());
  mean_return_.push_back(row.at("mean_return").is_null() ? NAN
                                                         : row.at("mean_return").get<double>());
  if (!writer_) return;
  std::ofstream jsonl(dir_ / "metrics.jsonl", std::ios::app);
  jsonl << row.dump() << "\n";
  std::ofstream csv(dir_ / "metrics.csv", std::ios::app);
  for (std::size_t i = 0; i < columns_.size(); ++i)
    csv << (i ? "," : "") << row.at(columns_[i]).dump();
  csv << "\n";
  if (!jsonl || !csv) throw train_error("out", "cannot write metrics in " + dir_.string());
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& column : columns_) {
    const auto& v = row.at(column);
    if (column != "env_steps" && v.is_number())
      scalars.emplace_back("train/" + column, v.get<double>());
  }
  log_events([&](engine::io::EventWriter& w) {
    w.scalars(row.at("env_steps").get<std::int64_t>(), scalars);
  });
}

void RunFolder::draw_curve() const {
  if (!writer_) return;
  engine::io::write_line_plot((dir_ / "learning_curve.png").string(), title_, "env steps", steps_,
                              {{.label = "mean return (last 20 episodes)", .y = mean_return_}});
}

}  // namespace simlab::learners::detail
