// EnvSlot: one env's episode state machine, the only place an env steps (EnvPool's Env::Step).
//
// A slot owns env `env`'s world and everything its episodes draw from: the Rng streams keyed by
// (seed, env, episode), the action-delay ring, observation noise and dropout, interval
// randomization, the episode's step count and its counters. Every mode runs through it:
//   VectorEnv        N slots, scheduled on oneTBB, auto-reset (a finished episode starts the next)
//   EpisodeRollout   one slot without auto-reset: dataset episodes, evaluation
//   snapshots        a slot saves its running episode (episode index + actions since its start)
//                    and restores it by replaying those actions on a fresh world
// so what an env does is a function of (variant, config, env, episode, actions) and nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/core/batch.h"
#include "engine/core/rng.h"
#include "engine/physics/backend.h"

namespace simlab::engine {

struct EnvVariant;
struct VectorEnvConfig;

// The Rng streams of one (env, episode): independent draws for each purpose. Streams at and above
// kCamera belong to the scene's cameras (scenes::camera_view), at kPolicy to dataset policies.
namespace rng_stream {
constexpr std::uint32_t kReset = 0;             // reset noise
constexpr std::uint32_t kRandomize = 1;         // per-reset randomization
constexpr std::uint32_t kStartup = 2;           // startup randomization (episode 0 key)
constexpr std::uint32_t kInitial = 3;           // initial-state randomization
constexpr std::uint32_t kNoise = 4;             // observation noise, dropout, action delay
constexpr std::uint32_t kInterval = 16;         // + episode step: interval randomization
constexpr std::uint32_t kCamera = 0x40000000u;  // + camera index: a camera's per-env jitter
constexpr std::uint32_t kPolicy = 0x50000000u;  // a dataset episode's random policy
}  // namespace rng_stream

struct EnvStats {
  std::uint64_t steps = 0;            // env steps taken
  std::uint64_t episodes = 0;         // episodes finished (terminated or truncated)
  std::uint64_t diverged = 0;         // resets after numerical trouble
  std::uint64_t invalid_actions = 0;  // resets after a NaN/Inf action
  std::uint64_t overflows = 0;        // resets after a full physics buffer (World::fault())

  EnvStats& operator+=(const EnvStats& o);
};

// One env's running episode, in a form that rebuilds it exactly: an env's world, random streams,
// action-delay ring and observation noise are a function of (seed, env, episode) and the actions
// applied since the episode started, so a restore replays those actions from the episode's start.
// Physics state alone would not do: MuJoCo's warm start and Bullet's contact caches also decide
// the next step, and neither engine can hand them over.
struct EnvSnapshot {
  std::uint32_t episode = 0;
  std::vector<float> actions;  // [episode_step, act_dim] as given to step(), before any delay
  EnvStats stats;
};

// What one step did (a control step, or the action_repeat control steps of one env step).
struct SlotStep {
  float reward = 0;         // summed over the control steps
  bool terminated = false;  // the task ended
  bool truncated = false;   // time limit, divergence or an invalid action
  StepStatus status = StepStatus::kOk;
  bool done() const { return terminated || truncated; }
};

// The two halves of starting an env, for tools that inspect one env without a slot: make env
// `env`'s world with its startup randomization, and start its episode `episode` on it (reset
// randomization, reset with noise, initial-state randomization).
std::unique_ptr<physics::World> make_env_world(const EnvVariant& variant,
                                               const VectorEnvConfig& config, int env);
void start_episode(physics::World& world, const EnvVariant& variant, const VectorEnvConfig& config,
                   int env, std::uint32_t episode);

class EnvSlot {
 public:
  // Make env `env`'s world with its startup randomization. `variant` and `config` must outlive
  // the slot. No episode runs until begin().
  EnvSlot(const EnvVariant& variant, const VectorEnvConfig& config, int env);

  // Start episode `episode`: reset randomization, reset noise, initial-state randomization, the
  // episode's action delay, then the first observation (noise included) into `obs`.
  void begin(std::uint32_t episode, std::span<float> obs);
  // One control step with `action` (act_dim floats): a NaN/Inf action is not applied and a
  // diverged world is not trusted (both end the episode as truncated, counted, with `obs` keeping
  // the last good observation); otherwise reward and ending are scored on the true state and
  // `obs` gets the next observation. The slot never starts the next episode itself.
  SlotStep control_step(std::span<const float> action, std::span<float> obs);
  // config.action_repeat control steps with the same action, rewards summed, cut short by the
  // episode's end; `each`, if given, sees the world after every control step.
  using ControlStepHook = std::function<void(const physics::World& world, const SlotStep& step)>;
  SlotStep step(std::span<const float> action, std::span<float> obs,
                const ControlStepHook* each = nullptr);

  // The running episode (config.snapshots must be on), and its rebuild on a fresh world: returns
  // false when the replay ends the episode early (the snapshot is of another scene or seed).
  EnvSnapshot snapshot() const;
  bool restore(const EnvSnapshot& snapshot, std::span<float> obs);

  std::uint32_t episode() const { return episode_; }
  std::int32_t episode_step() const { return episode_step_; }
  int action_delay() const { return delay_; }
  // The first NaN/Inf element of the last rejected action, or -1.
  int bad_action_element() const { return bad_action_element_; }
  const EnvStats& stats() const { return stats_; }
  const physics::World& world() const { return *world_; }
  physics::World& world() { return *world_; }
  const EnvVariant& variant() const { return *variant_; }

 private:
  void observe(std::span<float> obs);
  std::span<const float> delayed(std::span<const float> action);

  const EnvVariant* variant_;
  const VectorEnvConfig* config_;
  int env_;
  int act_dim_;
  std::unique_ptr<physics::World> world_;
  std::uint32_t episode_ = 0;
  std::int32_t episode_step_ = 0;
  int bad_action_element_ = -1;
  EnvStats stats_;
  Rng noise_rng_{0, 0, 0};          // observation noise and dropout of the current episode
  int delay_ = 0;                   // action delay of the current episode
  int history_count_ = 0;           // actions in `history_` this episode
  std::vector<float> history_;      // ring of the last action_delay_max + 1 actions (delay only)
  std::vector<float> actions_;      // this episode's actions (config.snapshots only)
  std::vector<float> last_action_;  // the previous action, clamped (task.last_action_at only)
};

}  // namespace simlab::engine
