#include "engine/io/rollout.h"

#include <algorithm>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

// VectorEnv's Rng streams of one (env, episode) that a step draws from (engine/vector_env.cpp);
// make_env_world and start_episode draw the others.
constexpr std::uint32_t kNoiseStream = 4;      // observation noise, dropout, action delay
constexpr std::uint32_t kIntervalStream = 16;  // + episode step: interval randomization

}  // namespace

EpisodeRollout::EpisodeRollout(const std::vector<EnvVariant>& variants,
                               const VectorEnvConfig& config, std::int64_t index)
    : variant_ref_(variants.at(static_cast<std::size_t>(index) % variants.size())),
      config_(config),
      index_(index),
      variant_(static_cast<int>(static_cast<std::size_t>(index) % variants.size())),
      noise_rng_(config.seed, static_cast<std::uint32_t>(index), 0, kNoiseStream),
      act_dim_(variant_ref_.model->info().action.dim()) {
  SIMLAB_CHECK(index >= 0 && index <= 0x7fffffff) << "episode index " << index;
  const int env = static_cast<int>(index);
  world_ = make_env_world(variant_ref_, config_, env);
  start_episode(*world_, variant_ref_, config_, env, 0);
  // As VectorEnv::reset_env: the delay is drawn before the first observation's noise.
  const Corruption& c = config_.corruption;
  delay_ = c.action_delay_min;
  if (c.action_delay_max > c.action_delay_min)
    delay_ += static_cast<int>(
        noise_rng_.below(static_cast<std::uint32_t>(c.action_delay_max - c.action_delay_min + 1)));
  if (c.action_delay_max > 0)
    history_.assign(static_cast<std::size_t>(c.action_delay_max + 1) * act_dim_, 0.0f);
  obs_.resize(static_cast<std::size_t>(variant_ref_.task.observe
                                           ? variant_ref_.task.observation.dim()
                                           : variant_ref_.model->info().observation.dim()));
  observe();

  const auto& model = *variant_ref_.model;
  num_joints_ = static_cast<int>(model.names(physics::Element::kJoint).size());
  for (int j = 0; j < num_joints_; ++j)
    state_dim_ += model.quantity_dim(physics::Quantity::kJointPos, j) +
                  model.quantity_dim(physics::Quantity::kJointVel, j);
}

void EpisodeRollout::observe() {
  if (variant_ref_.task.observe)
    variant_ref_.task.observe(*world_, obs_);
  else
    world_->observe(obs_);
  const Corruption& c = config_.corruption;
  if (!c.obs_noise.empty())
    for (std::size_t k = 0; k < obs_.size(); ++k)
      if (c.obs_noise[k] > 0) obs_[k] += static_cast<float>(noise_rng_.normal() * c.obs_noise[k]);
  if (c.obs_dropout > 0)
    for (float& x : obs_)
      if (noise_rng_.uniform() < c.obs_dropout) x = 0.0f;
}

std::span<const float> EpisodeRollout::delayed(std::span<const float> action) {
  if (history_.empty()) return action;
  const int slots = config_.corruption.action_delay_max + 1;
  std::copy(action.begin(), action.end(),
            history_.begin() + static_cast<std::ptrdiff_t>(history_count_ % slots) * act_dim_);
  ++history_count_;
  const int n = std::max(0, history_count_ - 1 - delay_);
  return {history_.data() + static_cast<std::size_t>(n % slots) * act_dim_,
          static_cast<std::size_t>(act_dim_)};
}

EpisodeRollout::Step EpisodeRollout::step(std::span<const float> action) {
  SIMLAB_CHECK(!done_) << "episode " << index_ << " has ended";
  SIMLAB_CHECK(static_cast<int>(action.size()) == act_dim_)
      << "action has " << action.size() << " floats, expected " << act_dim_;
  Step s;
  if (Space::first_non_finite(action)) {
    s.status = StepStatus::kInvalidAction;
  } else {
    s.status = world_->step(delayed(action), config_.frame_skip);
  }
  if (s.status == StepStatus::kOk) {
    ++steps_;
    const Task& task = variant_ref_.task;
    if (task.reward) s.reward = task.reward(*world_, action);
    if (task.terminated) s.terminated = task.terminated(*world_);
    s.truncated =
        !s.terminated && config_.max_episode_steps > 0 && steps_ >= config_.max_episode_steps;
    if (config_.randomize_interval && variant_ref_.randomize && !s.terminated && !s.truncated) {
      Rng rng(config_.seed, static_cast<std::uint32_t>(index_), 0,
              kIntervalStream + static_cast<std::uint32_t>(steps_));
      variant_ref_.randomize(*world_, rng, RandomizePhase::kInterval, steps_);
    }
    observe();
  } else {
    // As VectorEnv: the step counts, the observation keeps the last good one.
    ++steps_;
    s.truncated = true;
  }
  done_ = s.terminated || s.truncated;
  return s;
}

void EpisodeRollout::read_state(std::span<double> out) const {
  SIMLAB_CHECK(static_cast<int>(out.size()) == state_dim_) << "state has " << state_dim_;
  const auto& model = *variant_ref_.model;
  std::size_t at = 0;
  for (auto q : {physics::Quantity::kJointPos, physics::Quantity::kJointVel})
    for (int j = 0; j < num_joints_; ++j) {
      const auto n = static_cast<std::size_t>(model.quantity_dim(q, j));
      world_->read(q, j, out.subspan(at, n));
      at += n;
    }
}

}  // namespace simlab::engine::io
