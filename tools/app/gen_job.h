// The simulation side of `simlab gen` and `simlab bench gen`: a scene's episodes rolled out by a
// policy in --envs slots stepped in parallel, each finished episode handed to a sink (the writer
// thread, or nothing when benchmarking the simulation alone).
//
//   todo episodes --> slots (one EpisodeRollout each, stepped on oneTBB; a slot whose episode
//   ended takes the next) --> with images: one batch render of every slot per step --> sink
//
// Episode k's data depends on (scene, seed, policy, k) only: see engine/episode_rollout.h. An
// exported policy (policy.pt) is deterministic and called on one observation at a time, so
// its actions do not depend on how many episodes run beside it either.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/dataset.h"
#include "scenes/scene.h"
#include "tools/app/policy.h"
#include "tools/app/run.h"

namespace simlab::app {

struct GenOptions {
  // The scene, its physics engine, the seed (scene, randomization and policy), the episodes
  // simulated at once (envs) and the simulation threads. Datasets always use the training
  // randomization.
  RunSpec run{.scene = "", .envs = 16};
  std::int64_t episodes = 100;
  std::string policy = "random";  // random, zero, or an exported policy.pt (needs LibTorch)
  std::string obs = "state";      // comma-separated: state, rgb, depth, seg
  std::string res = "64x64";      // WIDTHxHEIGHT of images
  std::string camera;   // a scene camera by name; "": the scene's first, else a framing camera
  int max_steps = 0;    // > 0: cap the scene's episode length
  int compression = 1;  // deflate 1: on push, 1% more bytes than 4 for 25% less writer CPU
};

// A validated job: the compiled scene, the env configuration, the dataset layout and the JSON
// that goes into the files. Bad options throw simlab::Error naming the field.
struct GenSpec {
  GenOptions options;
  scenes::Scene scene;
  engine::VectorEnvConfig config;  // seed and episode length as the job runs them
  engine::io::DatasetLayout layout;
  PolicySource policy;
  int camera = -1;       // scene camera index, -1: default framing camera
  nlohmann::json job;    // what determines the data (compared on --resume and merge)
  std::string env_args;  // data.attrs env_args (robomimic's env metadata, JSON)
};
GenSpec prepare_gen(const GenOptions& options);

struct GenStats {
  std::int64_t episodes = 0;   // handed to the sink
  std::int64_t env_steps = 0;  // stepped (episodes abandoned on interruption included)
  double seconds = 0;
  bool interrupted = false;
};

using EpisodeSink = std::function<void(std::unique_ptr<engine::io::Episode>)>;

// How far a job is: `done` of `total` `unit`s (env-steps, or episodes when they have no limit).
// Called after every round of steps (or finished episode), and once with `final` at the end.
using GenProgress =
    std::function<void(std::int64_t done, std::int64_t total, const char* unit, bool final)>;

// Roll out `todo` (episode indices) and give each finished episode to `sink`. With images the
// episodes step together (one batched render per step) and `sink` and `progress` run on this
// thread; without them each simulation thread runs whole episodes and calls `sink` and `progress`
// itself, one thread at a time. Stops early, abandoning episodes in flight, once `stop` reads
// true. At most --envs episodes are simulated at once (and at most one per thread without images).
GenStats simulate(const GenSpec& spec, std::span<const std::int64_t> todo, const EpisodeSink& sink,
                  const std::atomic<bool>* stop = nullptr, const GenProgress& progress = {});

}  // namespace simlab::app
