#include "engine/vector_env.h"

#include <algorithm>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <string>

#include <spdlog/spdlog.h>

#include "engine/core/error.h"

namespace simlab::engine {
namespace {

// Rng streams of one (env, episode): independent draws for each purpose.
constexpr std::uint32_t kResetStream = 0;      // reset noise
constexpr std::uint32_t kRandomizeStream = 1;  // per-reset randomization
constexpr std::uint32_t kStartupStream = 2;    // startup randomization (episode 0 key)
constexpr std::uint32_t kInitialStream = 3;    // initial-state randomization
constexpr std::uint32_t kNoiseStream = 4;      // observation noise, dropout, action delay
constexpr std::uint32_t kIntervalStream = 16;  // + episode step: interval randomization

int resolve_threads(int requested) {
  if (requested < 0)
    throw Error(SourceLocation{.field = "threads"},
                "must be >= 0 (0: all cores), got " + std::to_string(requested));
  return requested == 0 ? tbb::info::default_concurrency() : requested;
}

VectorEnvConfig validated(VectorEnvConfig c) {
  auto bad = [](const char* field, const std::string& what) {
    return Error(SourceLocation{.field = field}, what);
  };
  if (c.num_envs < 1) throw bad("envs", "must be >= 1, got " + std::to_string(c.num_envs));
  if (c.frame_skip < 1)
    throw bad("frame_skip", "must be >= 1, got " + std::to_string(c.frame_skip));
  if (c.action_repeat < 1)
    throw bad("action_repeat", "must be >= 1, got " + std::to_string(c.action_repeat));
  if (c.max_episode_steps < 0)
    throw bad("max_episode_steps",
              "must be >= 0 (0: no limit), got " + std::to_string(c.max_episode_steps));
  if (c.batch_size == 0) c.batch_size = c.num_envs;
  if (c.batch_size < 1 || c.batch_size > c.num_envs)
    throw bad("batch_size", "must be in [1, envs=" + std::to_string(c.num_envs) + "], got " +
                                std::to_string(c.batch_size));
  return c;
}

}  // namespace

std::unique_ptr<physics::World> make_env_world(const EnvVariant& variant,
                                               const VectorEnvConfig& config, int env) {
  auto world = variant.model->make_world(config.reset);
  if (variant.randomize) {
    Rng rng(config.seed, static_cast<std::uint32_t>(env), 0, kStartupStream);
    variant.randomize(*world, rng, RandomizePhase::kStartup, 0);
  }
  return world;
}

void start_episode(physics::World& world, const EnvVariant& variant, const VectorEnvConfig& config,
                   int env, std::uint32_t episode) {
  const auto key = static_cast<std::uint32_t>(env);
  if (variant.randomize) {
    Rng rng(config.seed, key, episode, kRandomizeStream);
    variant.randomize(world, rng, RandomizePhase::kReset, 0);
  }
  Rng rng(config.seed, key, episode, kResetStream);
  world.reset(rng);
  if (variant.randomize) {
    Rng initial(config.seed, key, episode, kInitialStream);
    variant.randomize(world, initial, RandomizePhase::kInitialState, 0);
  }
}

EnvStats& EnvStats::operator+=(const EnvStats& o) {
  steps += o.steps;
  episodes += o.episodes;
  diverged += o.diverged;
  invalid_actions += o.invalid_actions;
  return *this;
}

VectorEnv::VectorEnv(std::shared_ptr<const physics::Model> model, VectorEnvConfig config)
    : VectorEnv(std::vector<EnvVariant>{{std::move(model), config.task, config.randomize}},
                config) {}

namespace {

Space observation_of(const EnvVariant& v) {
  return v.task.observe ? v.task.observation : v.model->info().observation;
}

// Every variant must present the same contract to a policy.
std::vector<EnvVariant> checked(std::vector<EnvVariant> variants, const VectorEnvConfig& c) {
  SIMLAB_CHECK(!variants.empty()) << "VectorEnv needs at least one model";
  const int obs = observation_of(variants[0]).dim();
  const int act = variants[0].model->info().action.dim();
  for (std::size_t v = 0; v < variants.size(); ++v) {
    SIMLAB_CHECK(variants[v].model) << "variant " << v << " has no model";
    const int o = observation_of(variants[v]).dim(), a = variants[v].model->info().action.dim();
    if (o != obs || a != act)
      throw Error(SourceLocation{.file = variants[v].model->info().name, .field = "variants"},
                  "variant " + std::to_string(v) + " has " + std::to_string(o) +
                      " observations and " + std::to_string(a) + " actions, variant 0 has " +
                      std::to_string(obs) + " and " + std::to_string(act) +
                      "; declare observation terms that every variant has");
  }
  if (!c.corruption.obs_noise.empty() && static_cast<int>(c.corruption.obs_noise.size()) != obs)
    throw Error(SourceLocation{.field = "corruption.obs_noise"},
                "expected one stddev per observation element (" + std::to_string(obs) + "), got " +
                    std::to_string(c.corruption.obs_noise.size()));
  if (c.corruption.obs_dropout < 0 || c.corruption.obs_dropout >= 1)
    throw Error(SourceLocation{.field = "corruption.obs_dropout"}, "must be in [0, 1)");
  if (c.corruption.action_delay_min < 0 ||
      c.corruption.action_delay_max < c.corruption.action_delay_min)
    throw Error(SourceLocation{.field = "corruption.action_delay"},
                "expected 0 <= min <= max, got [" + std::to_string(c.corruption.action_delay_min) +
                    ", " + std::to_string(c.corruption.action_delay_max) + "]");
  return variants;
}

}  // namespace

VectorEnv::VectorEnv(std::vector<EnvVariant> variants, VectorEnvConfig config)
    : variants_(checked(std::move(variants), config)),
      config_(validated(std::move(config))),
      observation_(observation_of(variants_[0])),
      num_threads_(resolve_threads(config_.num_threads)),
      act_dim_(variants_[0].model->info().action.dim()),
      envs_(static_cast<std::size_t>(config_.num_envs)),
      batch_(config_.num_envs, observation_.dim(), act_dim_),
      arena_(num_threads_, /*reserved_for_masters=*/1),
      recv_batch_(config_.batch_size, observation_.dim(), act_dim_),
      in_flight_(static_cast<std::size_t>(config_.num_envs), 0),
      send_ring_(static_cast<std::size_t>(config_.num_envs), 0),
      done_ring_(static_cast<std::size_t>(config_.num_envs), 0) {
  make_envs();
  reset();
}

void VectorEnv::make_envs() {
  const std::size_t history =
      config_.corruption.action_delay_max > 0
          ? static_cast<std::size_t>(config_.corruption.action_delay_max + 1) * act_dim_
          : 0;
  // Worlds are made in parallel: with thousands of envs, allocating and initializing mjData is
  // a visible part of start-up.
  arena_.execute([&] {
    tbb::parallel_for(0, config_.num_envs, [&](int i) {
      Env& e = envs_[i];
      e.world = make_env_world(variants_[variant_of(i)], config_, i);
      e.history.assign(history, 0.0f);
      if (config_.snapshots)
        e.actions.reserve(static_cast<std::size_t>(std::max(config_.max_episode_steps, 1)) *
                          static_cast<std::size_t>(act_dim_));
    });
  });
}

VectorEnv::~VectorEnv() {
  wait_idle();
}

void VectorEnv::wait_idle() {
  arena_.execute([&] { async_group_.wait(); });
}

void VectorEnv::reset_env(int env) {
  Env& e = envs_[env];
  start_episode(*e.world, variants_[variant_of(env)], config_, env, e.episode);
  e.episode_step = 0;
  e.noise_rng = Rng(config_.seed, static_cast<std::uint32_t>(env), e.episode, kNoiseStream);
  const Corruption& c = config_.corruption;
  e.delay = c.action_delay_min;
  if (c.action_delay_max > c.action_delay_min)
    e.delay += static_cast<int>(
        e.noise_rng.below(static_cast<std::uint32_t>(c.action_delay_max - c.action_delay_min + 1)));
  e.history_count = 0;
  e.actions.clear();
  observe_env(env, batch_.obs.row(env));
}

void VectorEnv::observe_env(int env, std::span<float> obs) {
  Env& e = envs_[env];
  const Task& task = variants_[variant_of(env)].task;
  if (task.observe)
    task.observe(*e.world, obs);
  else
    e.world->observe(obs);
  const Corruption& c = config_.corruption;
  if (!c.obs_noise.empty())
    for (std::size_t k = 0; k < obs.size(); ++k)
      if (c.obs_noise[k] > 0) obs[k] += static_cast<float>(e.noise_rng.normal() * c.obs_noise[k]);
  if (c.obs_dropout > 0)
    for (float& x : obs)
      if (e.noise_rng.uniform() < c.obs_dropout) x = 0.0f;
}

std::span<const float> VectorEnv::delayed_action(int env) {
  Env& e = envs_[env];
  const auto action = batch_.action.row(env);
  if (e.history.empty()) return action;
  // The ring holds the last delay_max + 1 actions; slot n % size holds the episode's n-th action.
  const int slots = config_.corruption.action_delay_max + 1;
  std::copy(action.begin(), action.end(),
            e.history.begin() + static_cast<std::ptrdiff_t>(e.history_count % slots) * act_dim_);
  ++e.history_count;
  // Until `delay` actions came in, the episode's first action stands in for the missing ones.
  const int n = std::max(0, e.history_count - 1 - e.delay);
  return {e.history.data() + static_cast<std::size_t>(n % slots) * act_dim_,
          static_cast<std::size_t>(act_dim_)};
}

void VectorEnv::step_env(int env) {
  float reward = 0.0f;
  for (int r = 0; r < config_.action_repeat; ++r) {
    reward += control_step(env);
    if (batch_.terminated(env, 0) || batch_.truncated(env, 0)) break;  // the episode's end
  }
  batch_.reward(env, 0) = reward;
}

float VectorEnv::control_step(int env) {
  Env& e = envs_[env];
  const auto action = batch_.action.row(env);
  const auto obs = batch_.obs.row(env);
  const auto final_obs = batch_.final_obs.row(env);

  StepStatus status = StepStatus::kOk;
  float reward = 0.0f;
  bool terminated = false;
  bool truncated = false;
  if (const auto bad = Space::first_non_finite(action)) {
    status = StepStatus::kInvalidAction;
    e.bad_action_element = *bad;
    ++e.stats.invalid_actions;
  } else {
    status = e.world->step(delayed_action(env), config_.frame_skip);
    if (status == StepStatus::kDiverged) ++e.stats.diverged;
  }
  if (status == StepStatus::kOk) {
    const EnvVariant& v = variants_[variant_of(env)];
    ++e.episode_step;
    if (config_.snapshots) e.actions.insert(e.actions.end(), action.begin(), action.end());
    // Reward and termination read the true state; only the observation is corrupted.
    if (v.task.reward) reward = v.task.reward(*e.world, action);
    if (v.task.terminated) terminated = v.task.terminated(*e.world);
    truncated =
        !terminated && config_.max_episode_steps > 0 && e.episode_step >= config_.max_episode_steps;
    if (config_.randomize_interval && v.randomize && !terminated && !truncated) {
      Rng rng(config_.seed, static_cast<std::uint32_t>(env), e.episode,
              kIntervalStream + static_cast<std::uint32_t>(e.episode_step));
      v.randomize(*e.world, rng, RandomizePhase::kInterval, e.episode_step);
    }
    observe_env(env, obs);
  } else {
    truncated = true;  // obs still holds the last good observation: it becomes final_obs
  }

  batch_.terminated(env, 0) = terminated;
  batch_.truncated(env, 0) = truncated;
  batch_.status(env, 0) = static_cast<std::uint8_t>(status);
  ++e.stats.steps;
  if (terminated || truncated) {
    std::copy(obs.begin(), obs.end(), final_obs.begin());
    ++e.stats.episodes;
    ++e.episode;
    reset_env(env);
  }
  batch_.episode_step(env, 0) = e.episode_step;
  return reward;
}

const Batch& VectorEnv::reset() {
  wait_idle();
  {
    std::lock_guard lock(mutex_);
    std::fill(in_flight_.begin(), in_flight_.end(), 0);
    done_count_ = 0;
  }
  arena_.execute([&] {
    tbb::parallel_for(0, config_.num_envs, [&](int env) {
      reset_env(env);
      batch_.reward(env, 0) = 0.0f;
      batch_.terminated(env, 0) = 0;
      batch_.truncated(env, 0) = 0;
      batch_.status(env, 0) = 0;
      batch_.episode_step(env, 0) = 0;
    });
  });
  return batch_;
}

const Batch& VectorEnv::step(std::span<const float> actions) {
  const std::size_t expected = static_cast<std::size_t>(config_.num_envs) * act_dim_;
  if (actions.size() != expected) {
    throw Error(SourceLocation{.field = "actions"},
                "expected [envs=" + std::to_string(config_.num_envs) +
                    ", action_dim=" + std::to_string(act_dim_) + "] = " + std::to_string(expected) +
                    " floats, got " + std::to_string(actions.size()));
  }
  wait_idle();
  std::copy(actions.begin(), actions.end(), batch_.action.data());
  arena_.execute([&] {
    // One env per task is fine-grained enough for physics steps of tens of microseconds, and
    // lets the scheduler balance envs whose contact counts differ.
    tbb::parallel_for(tbb::blocked_range<int>(0, config_.num_envs, 1),
                      [&](const tbb::blocked_range<int>& r) {
                        for (int env = r.begin(); env < r.end(); ++env)
                          step_env(env);
                      });
  });
  warn_invalid_actions();
  return batch_;
}

void VectorEnv::warn_invalid_actions() {
  constexpr int kMaxWarnings = 5;
  for (int env = 0; env < config_.num_envs && invalid_action_warnings_ < kMaxWarnings; ++env) {
    if (batch_.status(env, 0) != static_cast<std::uint8_t>(StepStatus::kInvalidAction)) continue;
    const int k = envs_[env].bad_action_element;
    ++invalid_action_warnings_;
    spdlog::warn(
        "actions[{}][{}] ({}) is {}: not applied, env {} reset (counted in "
        "stats().invalid_actions){}",
        env, k, action_space().names()[k], batch_.action(env, k), env,
        invalid_action_warnings_ == kMaxWarnings ? "; further ones are only counted" : "");
  }
}

void VectorEnv::finish(int env) {
  {
    std::lock_guard lock(mutex_);
    done_ring_[(done_head_ + done_count_) % done_ring_.size()] = env;
    ++done_count_;
  }
  cv_.notify_all();
}

void VectorEnv::async_reset() {
  reset();
  std::lock_guard lock(mutex_);
  done_head_ = 0;
  done_count_ = static_cast<std::size_t>(config_.num_envs);
  for (int env = 0; env < config_.num_envs; ++env) {
    done_ring_[env] = env;
    in_flight_[env] = 1;
  }
}

void VectorEnv::send(std::span<const float> actions, std::span<const int> env_ids) {
  const std::size_t k = env_ids.size();
  if (actions.size() != k * act_dim_) {
    throw Error(SourceLocation{.field = "actions"},
                "expected [" + std::to_string(k) + " env ids, action_dim=" +
                    std::to_string(act_dim_) + "] = " + std::to_string(k * act_dim_) +
                    " floats, got " + std::to_string(actions.size()));
  }
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < k; ++i) {
      const int env = env_ids[i];
      if (env < 0 || env >= config_.num_envs)
        throw Error(SourceLocation{.field = "env_ids"}, "env id " + std::to_string(env) +
                                                            " is out of range [0, " +
                                                            std::to_string(config_.num_envs) + ")");
      if (in_flight_[env])
        throw Error(SourceLocation{.field = "env_ids"},
                    "env " + std::to_string(env) +
                        " was sent already and not received yet; recv() it before sending again");
    }
    for (std::size_t i = 0; i < k; ++i) {
      const int env = env_ids[i];
      in_flight_[env] = 1;
      std::copy_n(actions.data() + i * act_dim_, act_dim_, batch_.action.row(env).data());
      send_ring_[(send_head_ + i) % send_ring_.size()] = env;
    }
  }
  // At most num_envs ids are ever in flight, so a send's slots in the ring are read by its task
  // before a later send can reuse them.
  const std::size_t start = send_head_;
  send_head_ = (send_head_ + k) % send_ring_.size();
  arena_.execute([&] {
    async_group_.run([this, start, k] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, k, 1),
                        [&](const tbb::blocked_range<std::size_t>& r) {
                          for (std::size_t i = r.begin(); i < r.end(); ++i) {
                            const int env = send_ring_[(start + i) % send_ring_.size()];
                            step_env(env);
                            finish(env);
                          }
                        });
    });
  });
}

const Batch& VectorEnv::recv() {
  const int want = config_.batch_size;
  int got = 0;
  std::unique_lock lock(mutex_);
  {
    // Every in-flight env either is being stepped or waits in the done ring.
    const int in_flight = static_cast<int>(std::count(in_flight_.begin(), in_flight_.end(), 1));
    if (in_flight < want)
      throw Error(SourceLocation{.field = "recv"},
                  "only " + std::to_string(in_flight) + " envs are in flight but batch_size is " +
                      std::to_string(want) + "; send() more envs first");
  }
  if (num_threads_ == 1 && static_cast<int>(done_count_) < want) {
    // No worker threads: the caller steps what was sent.
    lock.unlock();
    wait_idle();
    lock.lock();
  }
  while (got < want) {
    cv_.wait(lock, [&] { return done_count_ > 0; });
    while (done_count_ > 0 && got < want) {
      const int env = done_ring_[done_head_];
      done_head_ = (done_head_ + 1) % done_ring_.size();
      --done_count_;
      in_flight_[env] = 0;
      recv_batch_.copy_row(got++, batch_, env);
    }
  }
  return recv_batch_;
}

std::vector<EnvSnapshot> VectorEnv::snapshot() const {
  SIMLAB_CHECK(config_.snapshots) << "VectorEnv::snapshot needs config.snapshots";
  std::vector<EnvSnapshot> out(envs_.size());
  for (std::size_t i = 0; i < envs_.size(); ++i)
    out[i] = {envs_[i].episode, envs_[i].actions, envs_[i].stats};
  return out;
}

const Batch& VectorEnv::restore(const std::vector<EnvSnapshot>& snapshots) {
  auto bad = [](const std::string& what) {
    return Error(SourceLocation{.field = "snapshot"}, what);
  };
  if (static_cast<int>(snapshots.size()) != config_.num_envs)
    throw bad(std::to_string(snapshots.size()) + " envs, this VectorEnv has " +
              std::to_string(config_.num_envs));
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    const auto n = snapshots[i].actions.size();
    if (n % static_cast<std::size_t>(act_dim_) != 0 ||
        (config_.max_episode_steps > 0 && n / static_cast<std::size_t>(act_dim_) >=
                                              static_cast<std::size_t>(config_.max_episode_steps)))
      throw bad("env " + std::to_string(i) + ": " + std::to_string(n) +
                " action values do not make a running episode of this scene");
  }
  wait_idle();
  std::vector<int> ended(snapshots.size(), 0);
  arena_.execute([&] {
    tbb::parallel_for(0, config_.num_envs, [&](int env) {
      Env& e = envs_[env];
      const EnvSnapshot& s = snapshots[env];
      e.world = make_env_world(variants_[variant_of(env)], config_, env);
      e.episode = s.episode;
      reset_env(env);
      const auto action = batch_.action.row(env);
      for (std::size_t at = 0; at < s.actions.size() && !ended[env]; at += action.size()) {
        std::copy_n(s.actions.begin() + static_cast<std::ptrdiff_t>(at), action.size(),
                    action.begin());
        control_step(env);
        ended[env] = e.episode != s.episode;
      }
      e.stats = s.stats;
      batch_.reward(env, 0) = 0.0f;
      batch_.terminated(env, 0) = 0;
      batch_.truncated(env, 0) = 0;
      batch_.status(env, 0) = 0;
    });
  });
  for (std::size_t i = 0; i < ended.size(); ++i)
    if (ended[i])
      throw bad("env " + std::to_string(i) +
                ": its episode ended while its actions were replayed: " +
                "the snapshot is of another scene, seed or engine");
  std::lock_guard lock(mutex_);
  std::fill(in_flight_.begin(), in_flight_.end(), 0);
  done_count_ = 0;
  return batch_;
}

EnvStats VectorEnv::stats() const {
  EnvStats total;
  for (const auto& e : envs_)
    total += e.stats;
  return total;
}

std::size_t VectorEnv::world_bytes_per_env() const {
  std::size_t total = 0;
  for (const auto& e : envs_)
    total += e.world->bytes();
  return total / envs_.size();
}

std::size_t VectorEnv::batch_bytes_per_env() const {
  return batch_.size_bytes() / static_cast<std::size_t>(config_.num_envs);
}

}  // namespace simlab::engine
