// Headless training on a scene: `simlab train` is a thin shell over run_training().
//
//   runs/NAME/
//     config.json        what the run was started with; --resume refuses a different one
//     metrics.jsonl      one JSON object per update (also metrics.csv, same columns)
//     learning_curve.png mean return against env steps, redrawn at every checkpoint
//     checkpoint.pt      model, optimizer, observation normalizer, RNG state, counters; written to
//                        checkpoint.pt.tmp and renamed, so a killed run keeps the last good one
//
// Determinism: the run is cut into segments of `checkpoint_every` updates. Each segment makes its
// envs afresh from (seed, segment), and checkpoints fall on segment boundaries, so a resumed run
// continues exactly where the uninterrupted one would be (one thread, same seed: the same curve).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "learners/dreamer.h"
#include "learners/ppo.h"

namespace simlab::learners {

struct TrainConfig {
  std::string scene = "cartpole-balance";  // a built-in name or a spec file
  std::string algo = "ppo";                // ppo or dreamer
  std::int64_t steps = 200000;             // env steps in total (over all envs)
  int envs = 64;
  int threads = 0;  // simulation and LibTorch threads; 0: every core
  std::uint64_t seed = 0;
  std::string device = "auto";  // auto, cpu or cuda
  std::filesystem::path out = "runs/cartpole-balance";
  bool resume = false;
  bool overwrite = false;
  int checkpoint_every = 50;  // updates per segment (and per checkpoint)
  // The scene's domain randomization: "train" (its ranges) or "none" (no parameter randomization
  // or pushes; see scenes::with_randomization). Held-out ranges are for evaluation only.
  std::string randomization = "train";
  // The physics engine the scene runs on: mujoco or bullet (engine::physics::parse_backend).
  std::string backend = "mujoco";
  PpoConfig ppo;
  DreamerConfig dreamer;

  // The parts that define the run (a resume must match them).
  nlohmann::json to_json() const;
};

// Resolve "auto" to CUDA when LibTorch has it, else the CPU; "cuda" without CUDA is an Error.
torch::Device resolve_device(const std::string& name);

// What a run ends with: this process's rank, and a fingerprint of its parameters (equal on every
// rank of a data-parallel run).
struct TrainResult {
  int rank = 0, world_size = 1;
  std::string parameters;
};

// Train; `on_update` sees each metrics row as it is written (progress bars, tests). Throws
// simlab::Error on bad input (unknown scene or algorithm, a run folder of another configuration)
// and on a non-finite loss, which names the loss and leaves the last good checkpoint in place.
//
// Data-parallel over c10d when torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
// name more than one process: every rank runs `envs` envs of its own, gradients and normalizer
// statistics are averaged, and rank 0 writes the run folder; env steps count every rank's.
TrainResult run_training(const TrainConfig& config,
                         const std::function<void(const nlohmann::json& row)>& on_update = {});

}  // namespace simlab::learners
