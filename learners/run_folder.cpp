#include "learners/run_folder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "engine/io/event_file.h"
#include "engine/io/image.h"

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
  const fs::path tmp = file.string() + ".tmp";
  archive.save_to(tmp.string());
  fs::rename(tmp, file);
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
  if (writer_ && fs::exists(dir_ / "config.json") && !config.resume && !config.overwrite)
    throw train_error("out", dir_.string() +
                                 " holds a run already: --resume continues it, --overwrite "
                                 "starts over");
  if (config.resume) {
    if (!fs::exists(checkpoint()))
      throw train_error("resume", "no checkpoint in " + dir_.string() + " to resume from");
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
