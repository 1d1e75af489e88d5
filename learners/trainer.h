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

#include "engine/physics/backend.h"
#include "learners/dreamer.h"
#include "learners/options.h"
#include "learners/ppo.h"
#include "scenes/scene.h"

namespace simlab::learners {

struct TrainConfig {
  // The scene as the run records it (a built-in name or a spec file), with its randomization and
  // physics engine; run_training receives the scene already built from them.
  std::string scene = "cartpole-balance";
  // kTrain (the spec's ranges) or kNone (no parameter randomization or pushes); held-out ranges
  // are for evaluation only.
  scenes::Randomization randomization = scenes::Randomization::kTrain;
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  Algo algo = Algo::kPpo;
  std::int64_t steps = 200000;  // env steps in total (over all envs)
  int envs = 64;
  int threads = 0;  // simulation and LibTorch threads; 0: every core
  std::uint64_t seed = 0;
  DeviceChoice device = DeviceChoice::kAuto;
  std::filesystem::path out = "runs/cartpole-balance";
  bool resume = false;
  bool overwrite = false;
  int checkpoint_every = 50;  // updates per segment (and per checkpoint)
  PpoConfig ppo;
  DreamerConfig dreamer;

  // The parts that define the run (a resume must match them).
  nlohmann::json to_json() const;
};

// The checks that need no scene (algorithm, counts, randomization): an Error naming the field.
// run_training makes them too; a front end calls this before building the scene.
void check_train_config(const TrainConfig& config);

// What a run ends with: this process's rank, and a fingerprint of its parameters (equal on every
// rank of a data-parallel run).
struct TrainResult {
  int rank = 0, world_size = 1;
  std::string parameters;
};

// Train on `scene`; `on_update` sees each metrics row as it is written (progress bars, tests).
// Throws simlab::Error on bad input (unknown scene or algorithm, a run folder of another
// configuration) and on a non-finite loss, which names the loss and leaves the last good checkpoint
// in place.
//
// Data-parallel over c10d when torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
// name more than one process: every rank runs `envs` envs of its own, gradients and normalizer
// statistics are averaged, and rank 0 writes the run folder; env steps count every rank's.
// `scene` is config.scene built with config.randomization, config.backend and config.seed
// (tools/app builds it; a scene that fails to build leaves no run folder behind).
TrainResult run_training(const TrainConfig& config, const scenes::Scene& scene,
                         const std::function<void(const nlohmann::json& row)>& on_update = {});

}  // namespace simlab::learners
