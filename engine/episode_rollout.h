// One episode without auto-reset, keyed by its index in a whole job and nothing else:
//
//   episode k of a job with seed S  ==  the first episode of env k of a VectorEnv with seed S
//   (variant k % V, startup and reset randomization, reset noise, observation noise and dropout,
//   action delay, interval randomization: all from env k's Philox streams)
//
// It is env k's EnvSlot (engine/env_slot.h) run for one episode, so an episode's data does not
// depend on how many shards, envs or threads a job uses, or on the order in which episodes
// finish. The world stays at the episode's last state, which a renderer can still draw for the
// final next_obs frame. Datasets (tools/app/gen_job.h) and evaluation (learners/evaluate.h) use it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/env_slot.h"
#include "engine/vector_env.h"

namespace simlab::engine {

class EpisodeRollout {
 public:
  using Step = SlotStep;

  // Start episode `index`: make env `index`'s world (startup randomization), then its episode 0.
  // `variants` are the scene's (index % size picks one); `config` supplies seed, frame skip,
  // action repeat, episode length and corruption. Both must outlive the rollout.
  EpisodeRollout(const std::vector<EnvVariant>& variants, const VectorEnvConfig& config,
                 std::int64_t index);

  // Apply `action` (action-dim floats) for config.action_repeat control steps (fewer if the
  // episode ends); `each` sees the world after every control step. Call only while !done().
  Step step(std::span<const float> action, const EnvSlot::ControlStepHook* each = nullptr);

  std::int64_t index() const { return index_; }
  int variant() const { return variant_; }
  int steps() const { return slot_.episode_step(); }  // control steps taken
  bool done() const { return done_; }
  // The observation the policy sees now: after the last step, or the first one (noise included).
  std::span<const float> obs() const { return obs_; }
  const physics::World& world() const { return slot_.world(); }
  physics::World& world() { return slot_.world(); }

  // The flat physics state: every joint's position entries, then every joint's velocity entries
  // (MuJoCo's qpos then qvel order); state_dim() = nq + nv.
  int state_dim() const { return state_dim_; }
  void read_state(std::span<double> out) const;

 private:
  std::int64_t index_;
  int variant_;
  EnvSlot slot_;
  std::vector<float> obs_;
  bool done_ = false;
  int num_joints_ = 0;
  int state_dim_ = 0;
};

}  // namespace simlab::engine
