#include "engine/vector_env.h"

#include <algorithm>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <string>

#include <spdlog/spdlog.h>

#include "engine/core/error.h"
#include "engine/core/memory.h"

namespace simlab::engine {
namespace {

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
      slots_(static_cast<std::size_t>(config_.num_envs)),
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
  const int n = config_.num_envs;
  // A few envs first (the first variants'): what they take, times the count, must fit the
  // memory budget before the rest are allocated (engine/core/memory.h).
  const int sample = std::min({n, 8, static_cast<int>(variants_.size())});
  for (int i = 0; i < sample; ++i)
    slots_[static_cast<std::size_t>(i)].emplace(variants_[variant_of(i)], config_, i);
  if (n > sample) {
    std::size_t world = 0;
    for (int i = 0; i < sample; ++i)
      world += slots_[static_cast<std::size_t>(i)]->world().bytes();
    world /= static_cast<std::size_t>(sample);
    // The slot's own vectors (observation, actions, delay line, noise) and the allocator's share.
    const std::size_t slot = sizeof(EnvSlot) + 16 * (observation_.dim() + act_dim_) + 1024;
    const std::size_t batch = batch_bytes_per_env();
    require_memory(world + slot + batch, n, "envs of " + variants_[0].model->info().name,
                   "physics state " + format_bytes(static_cast<double>(world)) +
                       ", env and batch " + format_bytes(static_cast<double>(slot + batch)),
                   SourceLocation{.field = "envs"});
  }
  // The rest in parallel: with thousands of envs, allocating and initializing mjData is a visible
  // part of start-up.
  arena_.execute([&] {
    tbb::parallel_for(sample, n, [&](int i) {
      slots_[static_cast<std::size_t>(i)].emplace(variants_[variant_of(i)], config_, i);
    });
  });
}

VectorEnv::~VectorEnv() {
  wait_idle();
}

void VectorEnv::wait_idle() {
  arena_.execute([&] { async_group_.wait(); });
}

void VectorEnv::begin_episode(int env, std::uint32_t episode) {
  slot(env).begin(episode, batch_.obs.row(env));
}

void VectorEnv::clear_flags(int env) {
  batch_.reward(env, 0) = 0.0f;
  batch_.terminated(env, 0) = 0;
  batch_.truncated(env, 0) = 0;
  batch_.status(env, 0) = 0;
}

void VectorEnv::step_env(int env) {
  EnvSlot& e = slot(env);
  const auto obs = batch_.obs.row(env);
  const SlotStep s = e.step(batch_.action.row(env), obs);
  batch_.reward(env, 0) = s.reward;
  batch_.terminated(env, 0) = s.terminated;
  batch_.truncated(env, 0) = s.truncated;
  batch_.status(env, 0) = static_cast<std::uint8_t>(s.status);
  if (s.done()) {
    // obs holds the episode's last observation (the last good one after trouble): keep it as
    // final_obs, then start the next episode in its place.
    const auto final_obs = batch_.final_obs.row(env);
    std::copy(obs.begin(), obs.end(), final_obs.begin());
    begin_episode(env, e.episode() + 1);
  }
  batch_.episode_step(env, 0) = e.episode_step();
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
      begin_episode(env, slot(env).episode());
      clear_flags(env);
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
  warn_faults();
  return batch_;
}

void VectorEnv::warn_faults() {
  constexpr int kMaxWarnings = 5;
  for (int env = 0; env < config_.num_envs && fault_warnings_ < kMaxWarnings; ++env) {
    const auto status = static_cast<StepStatus>(batch_.status(env, 0));
    if (status != StepStatus::kInvalidAction && status != StepStatus::kOverflow) continue;
    ++fault_warnings_;
    const char* more = fault_warnings_ == kMaxWarnings ? "; further ones are only counted" : "";
    if (status == StepStatus::kOverflow) {
      spdlog::warn("env {}: {}; env reset (counted in stats().overflows){}", env,
                   slot(env).world().fault(), more);
      continue;
    }
    const int k = slot(env).bad_action_element();
    spdlog::warn(
        "actions[{}][{}] ({}) is {}: not applied, env {} reset (counted in "
        "stats().invalid_actions){}",
        env, k, action_space().names()[k], batch_.action(env, k), env, more);
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
  std::vector<EnvSnapshot> out;
  out.reserve(slots_.size());
  for (const auto& s : slots_)
    out.push_back(s->snapshot());
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
      ended[env] = !slot(env).restore(snapshots[env], batch_.obs.row(env));
      clear_flags(env);
      batch_.episode_step(env, 0) = slot(env).episode_step();
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
  for (const auto& s : slots_)
    total += s->stats();
  return total;
}

std::size_t VectorEnv::world_bytes_per_env() const {
  std::size_t total = 0;
  for (const auto& s : slots_)
    total += s->world().bytes();
  return total / slots_.size();
}

std::size_t VectorEnv::batch_bytes_per_env() const {
  return batch_.size_bytes() / static_cast<std::size_t>(config_.num_envs);
}

}  // namespace simlab::engine
