#include "engine/env_slot.h"

#include <algorithm>

#include "engine/core/error.h"
#include "engine/vector_env.h"

namespace simlab::engine {

EnvStats& EnvStats::operator+=(const EnvStats& o) {
  steps += o.steps;
  episodes += o.episodes;
  diverged += o.diverged;
  invalid_actions += o.invalid_actions;
  overflows += o.overflows;
  return *this;
}

std::unique_ptr<physics::World> make_env_world(const EnvVariant& variant,
                                               const VectorEnvConfig& config, int env) {
  auto world = variant.model->make_world(config.reset);
  if (variant.randomize) {
    Rng rng(config.seed, static_cast<std::uint32_t>(env), 0, rng_stream::kStartup);
    variant.randomize(*world, rng, RandomizePhase::kStartup, 0);
  }
  return world;
}

void start_episode(physics::World& world, const EnvVariant& variant, const VectorEnvConfig& config,
                   int env, std::uint32_t episode) {
  const auto key = static_cast<std::uint32_t>(env);
  if (variant.randomize) {
    Rng rng(config.seed, key, episode, rng_stream::kRandomize);
    variant.randomize(world, rng, RandomizePhase::kReset, 0);
  }
  Rng rng(config.seed, key, episode, rng_stream::kReset);
  world.reset(rng);
  if (variant.randomize) {
    Rng initial(config.seed, key, episode, rng_stream::kInitial);
    variant.randomize(world, initial, RandomizePhase::kInitialState, 0);
  }
}

EnvSlot::EnvSlot(const EnvVariant& variant, const VectorEnvConfig& config, int env)
    : variant_(&variant),
      config_(&config),
      env_(env),
      act_dim_(variant.model->info().action.dim()),
      world_(make_env_world(variant, config, env)) {
  const Corruption& c = config.corruption;
  if (c.action_delay_max > 0)
    history_.assign(static_cast<std::size_t>(c.action_delay_max + 1) * act_dim_, 0.0f);
  if (variant.task.last_action_at >= 0) last_action_.assign(static_cast<std::size_t>(act_dim_), 0);
  if (config.snapshots)
    actions_.reserve(static_cast<std::size_t>(std::max(config.max_episode_steps, 1)) *
                     static_cast<std::size_t>(act_dim_));
}

void EnvSlot::begin(std::uint32_t episode, std::span<float> obs) {
  episode_ = episode;
  start_episode(*world_, *variant_, *config_, env_, episode);
  episode_step_ = 0;
  noise_rng_ = Rng(config_->seed, static_cast<std::uint32_t>(env_), episode, rng_stream::kNoise);
  // The delay is drawn before the first observation's noise.
  const Corruption& c = config_->corruption;
  delay_ = c.action_delay_min;
  if (c.action_delay_max > c.action_delay_min)
    delay_ += static_cast<int>(
        noise_rng_.below(static_cast<std::uint32_t>(c.action_delay_max - c.action_delay_min + 1)));
  history_count_ = 0;
  actions_.clear();
  std::fill(last_action_.begin(), last_action_.end(), 0.0f);
  observe(obs);
}

void EnvSlot::observe(std::span<float> obs) {
  const Task& task = variant_->task;
  if (task.observe)
    task.observe(*world_, obs);
  else
    world_->observe(obs);
  if (!last_action_.empty())
    std::copy(last_action_.begin(), last_action_.end(),
              obs.begin() + static_cast<std::ptrdiff_t>(task.last_action_at));
  const Corruption& c = config_->corruption;
  if (!c.obs_noise.empty())
    for (std::size_t k = 0; k < obs.size(); ++k)
      if (c.obs_noise[k] > 0) obs[k] += static_cast<float>(noise_rng_.normal() * c.obs_noise[k]);
  if (c.obs_dropout > 0)
    for (float& x : obs)
      if (noise_rng_.uniform() < c.obs_dropout) x = 0.0f;
}

std::span<const float> EnvSlot::delayed(std::span<const float> action) {
  if (history_.empty()) return action;
  // The ring holds the last delay_max + 1 actions; slot n % size holds the episode's n-th action.
  const int slots = config_->corruption.action_delay_max + 1;
  std::copy(action.begin(), action.end(),
            history_.begin() + static_cast<std::ptrdiff_t>(history_count_ % slots) * act_dim_);
  ++history_count_;
  // Until `delay` actions came in, the episode's first action stands in for the missing ones.
  const int n = std::max(0, history_count_ - 1 - delay_);
  return {history_.data() + static_cast<std::size_t>(n % slots) * act_dim_,
          static_cast<std::size_t>(act_dim_)};
}

SlotStep EnvSlot::control_step(std::span<const float> action, std::span<float> obs) {
  SlotStep s;
  if (const auto bad = Space::first_non_finite(action)) {
    s.status = StepStatus::kInvalidAction;
    bad_action_element_ = *bad;
    ++stats_.invalid_actions;
  } else {
    s.status = world_->step(delayed(action), config_->frame_skip);
    if (s.status == StepStatus::kDiverged) ++stats_.diverged;
    if (s.status == StepStatus::kOverflow) ++stats_.overflows;
  }
  ++stats_.steps;
  ++episode_step_;  // a failed step counts too: it ends the episode
  if (s.status == StepStatus::kOk) {
    if (config_->snapshots) actions_.insert(actions_.end(), action.begin(), action.end());
    if (!last_action_.empty()) {
      const Space& space = variant_->model->info().action;
      for (int k = 0; k < act_dim_; ++k)
        last_action_[k] = std::clamp(action[k], space.low()[k], space.high()[k]);
    }
    // Reward and termination read the true state; only the observation is corrupted.
    const Task& task = variant_->task;
    if (task.reward) s.reward = task.reward(*world_, action);
    if (task.terminated) s.terminated = task.terminated(*world_);
    s.truncated = !s.terminated && config_->max_episode_steps > 0 &&
                  episode_step_ >= config_->max_episode_steps;
    if (config_->randomize_interval && variant_->randomize && !s.done()) {
      Rng rng(config_->seed, static_cast<std::uint32_t>(env_), episode_,
              rng_stream::kInterval + static_cast<std::uint32_t>(episode_step_));
      variant_->randomize(*world_, rng, RandomizePhase::kInterval, episode_step_);
    }
    observe(obs);
  } else {
    s.truncated = true;  // obs still holds the last good observation
  }
  if (s.done()) ++stats_.episodes;
  return s;
}

SlotStep EnvSlot::step(std::span<const float> action, std::span<float> obs,
                       const ControlStepHook* each) {
  SlotStep total;
  for (int r = 0; r < config_->action_repeat; ++r) {
    const SlotStep s = control_step(action, obs);
    if (each) (*each)(*world_, s);
    total.reward += s.reward;
    total.terminated = s.terminated;
    total.truncated = s.truncated;
    total.status = s.status;
    if (s.done()) break;
  }
  return total;
}

EnvSnapshot EnvSlot::snapshot() const {
  SIMLAB_CHECK(config_->snapshots) << "EnvSlot::snapshot needs config.snapshots";
  return {episode_, actions_, stats_};
}

bool EnvSlot::restore(const EnvSnapshot& snapshot, std::span<float> obs) {
  world_ = make_env_world(*variant_, *config_, env_);
  begin(snapshot.episode, obs);
  bool ended = false;
  const auto n = static_cast<std::size_t>(act_dim_);
  for (std::size_t at = 0; at + n <= snapshot.actions.size() && !ended; at += n)
    ended = control_step(std::span<const float>(snapshot.actions).subspan(at, n), obs).done();
  stats_ = snapshot.stats;
  return !ended;
}

}  // namespace simlab::engine
