// VectorEnv: N worlds, stepped in parallel on oneTBB, results in a Batch. The worlds share one
// compiled Model, or one of a few structural variants (heterogeneous scenes), never a private copy.
//
// Each env is an EnvSlot (engine/env_slot.h: the one env step of every mode); VectorEnv schedules
// the slots and resets an env when its episode ends.
// - sync: step(actions [N, A]) runs a parallel_for over envs; each env writes its own Batch row.
// - async: send(actions [k, A], env_ids [k]) queues one task per send on the arena's task group;
//   each finished env pushes its id on a ring, and recv() waits for batch_size ids and gathers
//   their rows (EnvPool's action queue, thread pool and state queue, without the extra copies).
//
// Threads: the arena holds num_threads slots, one of them the caller's. step() runs on the caller
// plus num_threads - 1 workers; async steps run on the workers while the caller is free (to train,
// say), and with num_threads == 1 recv() steps the queued envs itself.
//
// Every env steps with its own Rng keyed by (seed, env, episode), and rows never share memory, so
// results are bit-identical whatever the thread count or the order in which envs finish.
//
// Per env and step: a non-finite action is not applied; a diverged world (NaN, MuJoCo's bad-qacc)
// is reset; both are counted and flagged in Batch::status, and neither throws nor touches another
// env. Episodes end by the task (terminated) or by the time limit (truncated), Gymnasium-style: the
// returned obs is the new episode's first observation and final_obs keeps the last one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <optional>
#include <span>
#include <vector>

#include "engine/core/batch.h"
#include "engine/env_slot.h"
#include "engine/physics/backend.h"

namespace simlab::engine {

// A task turns a world into what a policy sees and is scored on. Called on worker threads,
// concurrently for different envs: each must be a pure function of its arguments. Empty members:
// the model's own observation (qpos, qvel, sensordata), reward 0, never terminal.
struct Task {
  Space observation;  // the layout `observe` writes; dim 0 with an empty `observe`
  std::function<void(const physics::World& world, std::span<float> obs)> observe;
  std::function<float(const physics::World& world, std::span<const float> action)> reward;
  std::function<bool(const physics::World& world)> terminated;
  // Where the policy's previous action goes in the observation (its act_dim elements from here,
  // clamped to the action bounds; zeros at an episode's start), or -1. `observe` leaves those
  // elements alone: the env slot, which holds the actions, writes them before the noise.
  int last_action_at = -1;
};

// When domain randomization runs, each time with that env's own Rng for that (episode, phase):
//   kStartup       once, when the env is made                  parameters (World::set_param)
//   kReset         before every reset                          parameters
//   kInitialState  after every reset                           joint state (World::write, then
//                                                              World::forward)
//   kInterval      after every step, if config.randomize_interval; the randomizer decides by
//                  `episode_step` whether to act (e.g. a push every 2 s)
// It may change only the world it is given; worlds it never touches keep sharing the model's
// parameters. What it does at kReset must not depend on earlier episodes (draw every parameter it
// touches from the model's value), so that an episode depends only on (seed, env, episode) and its
// actions: that is what snapshot() and restore() rely on.
enum class RandomizePhase { kStartup, kReset, kInitialState, kInterval };
using Randomizer =
    std::function<void(physics::World& world, Rng& rng, RandomizePhase phase, int episode_step)>;

// The gap between the simulator and what a policy sees and does (sim-to-real noise):
struct Corruption {
  std::vector<float> obs_noise;  // per observation element: gaussian stddev; empty: none
  float obs_dropout = 0;         // probability that an element reads 0 in a step (a lost packet)
  int action_delay_min = 0;      // control steps between an action and its effect, drawn
  int action_delay_max = 0;      //   uniformly per episode from [min, max]
  bool any() const { return !obs_noise.empty() || obs_dropout > 0 || action_delay_max > 0; }
};

// One structure of a heterogeneous scene: a compiled model with its task and randomizer (both
// resolved against that model's element names). Env i runs variant i % variants.size().
struct EnvVariant {
  std::shared_ptr<const physics::Model> model;
  Task task;
  Randomizer randomize;
};

struct VectorEnvConfig {
  int num_envs = 1;
  int num_threads = 0;  // 0: every core oneTBB sees
  std::uint64_t seed = 0;
  int frame_skip = 1;  // physics steps per control step (control decimation)
  // Control steps per step(): each env's action holds for this many control steps (the scene's
  // terms, noise, delay and time limit still act on each), its rewards summed; an episode's end
  // cuts it short. Episode steps, the time limit and stats().steps count control steps.
  int action_repeat = 1;
  int max_episode_steps = 1000;  // env steps before truncation; 0: no limit
  int batch_size = 0;            // envs per recv(); 0: num_envs
  physics::ResetOptions reset;
  Task task;                        // single-model constructor only (variants carry their own)
  Randomizer randomize;             // single-model constructor only
  bool randomize_interval = false;  // call the randomizer with kInterval after every step
  Corruption corruption;
  // Keep the actions of each env's running episode, so that snapshot() can save the envs (memory:
  // max_episode_steps x act_dim floats per env, reserved up front; no allocation while stepping).
  bool snapshots = false;
};

class VectorEnv {
 public:
  // Every env runs `model` with config.task and config.randomize.
  VectorEnv(std::shared_ptr<const physics::Model> model, VectorEnvConfig config);
  // Heterogeneous envs: env i runs variants[i % variants.size()], with that variant's task and
  // randomizer (config.task and config.randomize are not used). Every variant must have the same
  // observation and action sizes.
  VectorEnv(std::vector<EnvVariant> variants, VectorEnvConfig config);
  ~VectorEnv();
  VectorEnv(const VectorEnv&) = delete;
  VectorEnv& operator=(const VectorEnv&) = delete;

  int num_envs() const { return config_.num_envs; }
  int num_threads() const { return num_threads_; }
  int batch_size() const { return config_.batch_size; }
  const VectorEnvConfig& config() const { return config_; }
  const physics::Model& model() const { return *variants_[0].model; }
  int num_variants() const { return static_cast<int>(variants_.size()); }
  int variant_of(int env) const { return env % num_variants(); }
  const physics::Model& variant_model(int variant) const { return *variants_[variant].model; }
  const Space& observation_space() const { return observation_; }
  const Space& action_space() const { return variants_[0].model->info().action; }
  // The action delay (control steps) of an env's current episode.
  int action_delay(int env) const { return slot(env).action_delay(); }

  // Start a new episode in every env; returns the [num_envs] batch with the first observations.
  const Batch& reset();
  // Step every env with actions [num_envs, act_dim] (row-major). Throws simlab::Error (field
  // "actions") on a wrong size; a NaN in one env's row only resets that env.
  const Batch& step(std::span<const float> actions);

  // Asynchronous API: queue steps for some envs (actions [k, act_dim] for env_ids [k]), then recv()
  // the first batch_size envs that finish, as a [batch_size] batch whose env_id says which is
  // which. async_reset() resets every env and makes all of them ready for the first recv().
  void async_reset();
  void send(std::span<const float> actions, std::span<const int> env_ids);
  const Batch& recv();

  // Every env's running episode (config.snapshots must be on; no async step in flight).
  std::vector<EnvSnapshot> snapshot() const;
  // Rebuild every env from its snapshot (of a VectorEnv made with the same scene, config and
  // seed): a fresh world, the episode started again, its actions replayed. Afterwards batch() holds
  // the observations the snapshot's env had, and stepping goes on bit for bit as it would have.
  // Throws simlab::Error (field "snapshot") on a count or size that does not fit, or when a replay
  // ends its episode early (the snapshot came from another scene or seed).
  const Batch& restore(const std::vector<EnvSnapshot>& envs);

  // One env's world, e.g. to read its randomized parameters.
  const physics::World& world(int env) const { return slot(env).world(); }

  // The [num_envs] batch written by step() and by the async workers.
  const Batch& batch() const { return batch_; }
  // The [batch_size] batch recv() fills (the same buffer every time).
  const Batch& recv_batch() const { return recv_batch_; }

  // Counters summed over envs, or for one env. Call when no async step is in flight.
  EnvStats stats() const;
  const EnvStats& env_stats(int env) const { return slot(env).stats(); }

  // Memory: world state per env (mean), batch rows per env, and the shared model once.
  std::size_t world_bytes_per_env() const;
  std::size_t batch_bytes_per_env() const;

 private:
  EnvSlot& slot(int env) { return *slots_[static_cast<std::size_t>(env)]; }
  const EnvSlot& slot(int env) const { return *slots_[static_cast<std::size_t>(env)]; }
  void make_envs();
  void step_env(int env);  // applies batch_.action row `env` through its slot; resets at the end
  void begin_episode(int env, std::uint32_t episode);
  void clear_flags(int env);
  void finish(int env);  // async: publish a finished env to recv()
  void wait_idle();
  void warn_faults();  // main thread, after a step: name the first few bad actions and overflows

  int fault_warnings_ = 0;

  std::vector<EnvVariant> variants_;
  VectorEnvConfig config_;
  Space observation_;
  int num_threads_;
  int act_dim_;
  std::vector<std::optional<EnvSlot>> slots_;  // made in parallel, in place
  Batch batch_;
  tbb::task_arena arena_;
  tbb::task_group async_group_;  // async sends, run inside arena_

  // async state: ids sent and not yet received, and the ring of finished ids (capacity num_envs)
  Batch recv_batch_;
  std::vector<std::uint8_t> in_flight_;
  std::vector<int> send_ring_;
  std::size_t send_head_ = 0;
  std::vector<int> done_ring_;
  std::size_t done_head_ = 0, done_count_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace simlab::engine
