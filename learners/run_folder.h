// What every training loop shares (internal to learners/): the run folder and its files, the
// scene's spaces, and small helpers.
//
//   RunFolder: --out checked before anything is written (a run there needs --resume or
//   --overwrite; --resume needs the same configuration, named key by key) -> config.json ->
//   metrics.jsonl + metrics.csv (one row per iteration, the algorithm's columns) ->
//   learning_curve.png redrawn at each checkpoint
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/core/buffer.h"
#include "engine/core/error.h"
#include "learners/trainer.h"

namespace simlab::scenes {
struct Scene;
}
namespace simlab::engine::io {
class EventWriter;
class FileLock;
}  // namespace simlab::engine::io

namespace simlab::learners::detail {

Error train_error(const std::string& field, const std::string& message);

std::uint64_t mix(std::uint64_t x);  // splitmix64's finalizer

// The observation and action sizes of a scene, and the action bounds (infinite ones as +-1).
struct Spaces {
  int obs_dim = 0, act_dim = 0;
  torch::Tensor low, high;  // [act_dim]
};

// The returns of the last 20 finished episodes, behind every metrics row's mean_return.
class RecentReturns {
 public:
  void add(double episode_return);
  nlohmann::json mean() const;  // null before the first episode ends
 private:
  friend void write_progress(torch::serialize::OutputArchive&, const std::vector<std::int64_t>&,
                             double, const RecentReturns&);
  friend std::vector<std::int64_t> read_progress(torch::serialize::InputArchive&, double&,
                                                 RecentReturns&);
  std::deque<double> returns_;
};

// What every checkpoint holds beside the networks: the default CPU generator's state, the loop's
// counters, the wall time so far and the recent returns (keys rng, counters, wall_s, recent).
void write_progress(torch::serialize::OutputArchive& archive,
                    const std::vector<std::int64_t>& counters, double wall_s,
                    const RecentReturns& recent);
// Restores the generator, wall time and returns; gives the counters back.
std::vector<std::int64_t> read_progress(torch::serialize::InputArchive& archive, double& wall_s,
                                        RecentReturns& recent);
// Write `archive` to `file` through a temporary file and a rename, so a killed run keeps the last
// complete checkpoint, with FILE.sum beside it (engine/io/checksum.h). A full disk or the file
// size limit: an Error naming the file, the previous checkpoint intact.
void save_atomically(torch::serialize::OutputArchive& archive, const std::filesystem::path& file);
// Load a checkpoint written by save_atomically: verified against FILE.sum first (a damaged file is
// an Error naming it, and nothing reads it), then parsed. A file without FILE.sum (older runs) is
// only parsed.
void load_archive(torch::serialize::InputArchive& archive, const std::filesystem::path& file);
// module.load(archive) once every parameter and buffer is in `archive` with this module's shape
// and type; otherwise an Error naming the file and the tensor (`name`.key).
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                 const std::filesystem::path& file, const std::string& name);

class RunFolder {
 public:
  // Checks --out against the configuration and, for the writer (rank 0), creates it and writes
  // config.json (a resume keeps the one there). Throws simlab::Error.
  RunFolder(const TrainConfig& config, std::vector<std::string> columns, bool writer);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path checkpoint() const { return dir_ / "checkpoint.pt"; }
  bool writer() const { return writer_; }
  // Keep the metrics rows up to `iteration` (-1: none), e.g. what a resumed checkpoint saw. The
  // TensorBoard event file is started over with them and the configuration as text.
  void start(std::int64_t iteration);
  // Append a row (every column must be there) and add it to the curve and to TensorBoard (each
  // numeric column as train/COLUMN against env steps). A TensorBoard file that cannot be written
  // is a warning; training goes on.
  void append(const nlohmann::json& row);
  // learning_curve.png: mean return against env steps.
  void draw_curve() const;

 private:
  std::filesystem::path dir_;
  std::vector<std::string> columns_;
  bool writer_;
  std::string title_;
  std::string config_text_;  // config.json's text, logged to TensorBoard
  std::vector<double> steps_, mean_return_;
  std::unique_ptr<engine::io::EventWriter> events_;
  std::unique_ptr<engine::io::FileLock> lock_;  // the writer's, for the folder's lifetime
  void log_events(const std::function<void(engine::io::EventWriter&)>& write);
};

// The world-model learner's loop (learners/dreamer_train.cpp), called by run_training once the
// scene and its spaces are known.
TrainResult run_dreamer(const TrainConfig& config, const scenes::Scene& scene, const Spaces& spaces,
                        int threads, torch::Device device,
                        const std::function<void(const nlohmann::json& row)>& on_update);

}  // namespace simlab::learners::detail
