// One dataset episode, keyed by its index in the whole job and nothing else:
//
//   episode k of a job with seed S  ==  the first episode of env k of a VectorEnv with seed S
//   (variant k % V, startup and reset randomization, reset noise, observation noise and dropout,
//   action delay, interval randomization: all from env k's Philox streams)
//
// so an episode's data does not depend on how many shards, envs or threads a job uses, or on the
// order in which episodes finish. Unlike VectorEnv there is no auto-reset: the world stays at the
// episode's last state, which a renderer can still draw for the final next_obs frame.
//
// The step is VectorEnv::step_env's, for one env: tests/engine/io/rollout_test.cpp checks that
// both produce the same observations, rewards and endings.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/core/rng.h"
#include "engine/vector_env.h"

namespace simlab::engine::io {

class EpisodeRollout {
 public:
  struct Step {
    float reward = 0;
    bool terminated = false;  // the task ended
    bool truncated = false;   // time limit, divergence or an invalid action
    StepStatus status = StepStatus::kOk;
  };

  // Start episode `index`: make env `index`'s world (startup randomization), then its episode 0.
  // `variants` are the scene's (index % size picks one); `config` supplies seed, frame skip,
  // episode length and corruption.
  EpisodeRollout(const std::vector<EnvVariant>& variants, const VectorEnvConfig& config,
                 std::int64_t index);

  // Apply `action` (action-dim floats) and advance one env step. Call only while !done().
  Step step(std::span<const float> action);

  std::int64_t index() const { return index_; }
  int variant() const { return variant_; }
  int steps() const { return steps_; }  // env steps taken
  bool done() const { return done_; }
  // The observation the policy sees now: after the last step, or the first one (noise included).
  std::span<const float> obs() const { return obs_; }
  const physics::World& world() const { return *world_; }
  physics::World& world() { return *world_; }

  // The flat physics state: every joint's position entries, then every joint's velocity entries
  // (MuJoCo's qpos then qvel order); state_dim() = nq + nv.
  int state_dim() const { return state_dim_; }
  void read_state(std::span<double> out) const;

 private:
  void observe();
  std::span<const float> delayed(std::span<const float> action);

  const EnvVariant& variant_ref_;
  const VectorEnvConfig& config_;
  std::int64_t index_;
  int variant_;
  std::unique_ptr<physics::World> world_;
  Rng noise_rng_;
  int delay_ = 0;
  int history_count_ = 0;
  std::vector<float> history_;  // the last action_delay_max + 1 actions (delay only)
  std::vector<float> obs_;
  int act_dim_;
  int steps_ = 0;
  bool done_ = false;
  int num_joints_ = 0;
  int state_dim_ = 0;
};

}  // namespace simlab::engine::io
