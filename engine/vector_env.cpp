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

EnvStats& EnvStats::operator+=(const EnvStats& o) {
  steps += o.steps;
  episodes += o.episodes;
  diverged += o.diverged;
  invalid_actions += o.invalid_actions;
  return *this;
}

VectorEnv::VectorEnv(std::shared_ptr<const physics::Model> model, VectorEnvConfig config)
    : model_(std::move(model)),
      config_(validated(std::move(config))),
      num_threads_(resolve_threads(config_.num_threads)),
      act_dim_(model_->info().action.dim()),
      envs_(static_cast<std::size_t>(config_.num_envs)),
      batch_(config_.num_envs, model_->info().observation.dim(), act_dim_),
      arena_(num_threads_, /*reserved_for_masters=*/1),
      recv_batch_(config_.batch_size, model_->info().observation.dim(), act_dim_),
      in_flight_(static_cast<std::size_t>(config_.num_envs), 0),
      send_ring_(static_cast<std::size_t>(config_.num_envs), 0),
      done_ring_(static_cast<std::size_t>(config_.num_envs), 0) {
  for (int i = 0; i < config_.num_envs; ++i) {
    envs_[i].world = model_->make_world(config_.reset);
    if (config_.randomize) {
      Rng rng(config_.seed, static_cast<std::uint32_t>(i), 0, kStartupStream);
      config_.randomize(*envs_[i].world, rng, /*startup=*/true);
    }
  }
  reset();
}

VectorEnv::~VectorEnv() {
  wait_idle();
}

void VectorEnv::wait_idle() {
  arena_.execute([&] { async_group_.wait(); });
}

void VectorEnv::reset_env(int env) {
  Env& e = envs_[env];
  if (config_.randomize) {
    Rng rng(config_.seed, static_cast<std::uint32_t>(env), e.episode, kRandomizeStream);
    config_.randomize(*e.world, rng, /*startup=*/false);
  }
  Rng rng(config_.seed, static_cast<std::uint32_t>(env), e.episode, kResetStream);
  e.world->reset(rng);
  e.episode_step = 0;
  e.world->observe(batch_.obs.row(env));
}

void VectorEnv::step_env(int env) {
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
    status = e.world->step(action, config_.frame_skip);
    if (status == StepStatus::kDiverged) ++e.stats.diverged;
  }
  if (status == StepStatus::kOk) {
    e.world->observe(obs);
    ++e.episode_step;
    if (config_.task.reward) reward = config_.task.reward(obs, action);
    if (config_.task.terminated) terminated = config_.task.terminated(obs);
    truncated =
        !terminated && config_.max_episode_steps > 0 && e.episode_step >= config_.max_episode_steps;
  } else {
    truncated = true;  // obs still holds the last good observation: it becomes final_obs
  }

  batch_.reward(env, 0) = reward;
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
