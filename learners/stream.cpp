#include "learners/stream.h"

#include <ATen/CPUGeneratorImpl.h>
#include <chrono>

#include "engine/core/error.h"
#include "learners/tensor_view.h"

namespace simlab::learners {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::uint64_t chunk_seed(std::uint64_t seed, std::int64_t k) {
  std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(k + 1));
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void write_stream_snapshot(torch::serialize::OutputArchive& archive, const std::string& prefix,
                           const StreamSnapshot& snapshot) {
  const auto n = static_cast<std::int64_t>(snapshot.envs.size());
  auto episode = torch::empty({n}, torch::kInt64), length = torch::empty({n}, torch::kInt64);
  auto stats = torch::empty({n, 5}, torch::kInt64);
  std::vector<float> actions;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& e = snapshot.envs[i];
    episode[i] = static_cast<std::int64_t>(e.episode);
    length[i] = static_cast<std::int64_t>(e.actions.size());
    actions.insert(actions.end(), e.actions.begin(), e.actions.end());
    const std::uint64_t counts[5] = {e.stats.steps, e.stats.episodes, e.stats.diverged,
                                     e.stats.invalid_actions, e.stats.overflows};
    for (int k = 0; k < 5; ++k)
      stats[i][k] = static_cast<std::int64_t>(counts[k]);
  }
  archive.write(prefix + "_episode", episode);
  archive.write(prefix + "_length", length);
  archive.write(prefix + "_actions", torch::tensor(actions, torch::kFloat32));
  archive.write(prefix + "_stats", stats);
  archive.write(prefix + "_first", snapshot.first);
  archive.write(prefix + "_policy_count",
                torch::tensor(static_cast<std::int64_t>(snapshot.policy.size())));
  for (std::size_t i = 0; i < snapshot.policy.size(); ++i)
    archive.write(prefix + "_policy_" + std::to_string(i), snapshot.policy[i]);
}

StreamSnapshot read_stream_snapshot(torch::serialize::InputArchive& archive,
                                    const std::string& prefix) {
  torch::Tensor episode, length, actions, stats, count;
  StreamSnapshot s;
  archive.read(prefix + "_episode", episode);
  archive.read(prefix + "_length", length);
  archive.read(prefix + "_actions", actions);
  archive.read(prefix + "_stats", stats);
  archive.read(prefix + "_first", s.first);
  archive.read(prefix + "_policy_count", count);
  const auto* a = actions.data_ptr<float>();
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < episode.size(0); ++i) {
    engine::EnvSnapshot e;
    e.episode = static_cast<std::uint32_t>(episode[i].item<std::int64_t>());
    const auto len = length[i].item<std::int64_t>();
    SIMLAB_CHECK(at + len <= actions.numel()) << "a stream snapshot's actions are cut short";
    e.actions.assign(a + at, a + at + len);
    at += len;
    e.stats = {
        static_cast<std::uint64_t>(stats[i][0].item<std::int64_t>()),
        static_cast<std::uint64_t>(stats[i][1].item<std::int64_t>()),
        static_cast<std::uint64_t>(stats[i][2].item<std::int64_t>()),
        static_cast<std::uint64_t>(stats[i][3].item<std::int64_t>()),
        // checkpoints written before overflows were counted have four columns
        stats.size(1) > 4 ? static_cast<std::uint64_t>(stats[i][4].item<std::int64_t>()) : 0};
    s.envs.push_back(std::move(e));
  }
  for (std::int64_t i = 0; i < count.item<std::int64_t>(); ++i) {
    torch::Tensor t;
    archive.read(prefix + "_policy_" + std::to_string(i), t);
    s.policy.push_back(t);
  }
  return s;
}

RolloutStream::RolloutStream(engine::VectorEnv& env, StreamPolicy& policy, StreamConfig config)
    : env_(env), policy_(policy), config_(config) {
  if (config_.steps < 1) throw Error(SourceLocation{.field = "stream.steps"}, "must be >= 1");
  if (config_.lag < 0 || config_.lag > 1)
    throw Error(SourceLocation{.field = "stream.lag"}, "must be 0 or 1");
  published_ = std::max<std::int64_t>(0, config_.first_chunk - config_.lag);
  actor_ = std::thread([this] { actor_loop(); });
}

RolloutStream::~RolloutStream() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  actor_.join();
}

void RolloutStream::publish(std::vector<torch::Tensor> weights) {
  {
    std::lock_guard lock(mutex_);
    weights_[published_++] = std::move(weights);
  }
  changed_.notify_all();
}

Chunk RolloutStream::next() {
  const auto start = Clock::now();
  std::unique_lock lock(mutex_);
  if (ready_.empty()) {
    learner_waiting_ = true;
    changed_.notify_all();
  }
  changed_.wait(lock, [&] { return !ready_.empty() || error_ || taken_ >= config_.chunks; });
  learner_waiting_ = false;
  learner_wait_s_ += seconds_since(start);
  if (!ready_.empty()) {
    Chunk chunk = std::move(ready_.front());
    ready_.pop_front();
    ++taken_;
    lock.unlock();
    changed_.notify_all();
    return chunk;
  }
  if (error_) std::rethrow_exception(error_);
  throw Error(SourceLocation{.field = "stream"}, "asked for chunk " + std::to_string(taken_) +
                                                     " of " + std::to_string(config_.chunks));
}

void RolloutStream::actor_loop() {
  try {
    const std::int64_t n = env_.num_envs();
    const int obs_dim = env_.observation_space().dim(), act_dim = env_.action_space().dim();
    const int steps = config_.steps;
    torch::Tensor obs, first;
    if (config_.start) {
      obs = view(env_.restore(config_.start->envs).obs, n);
      policy_.set_state(config_.start->policy);
      first = config_.start->first.clone();
    } else {
      obs = view(env_.reset().obs, n);
      first = torch::ones({n});
    }
    const bool images = static_cast<bool>(config_.frames);
    torch::Tensor image = images ? config_.frames(env_) : torch::Tensor();
    std::int64_t loaded = -1;
    for (std::int64_t local = 0; local < config_.chunks; ++local) {
      const std::int64_t k = config_.first_chunk + local;
      Chunk c;
      c.index = k;
      c.version = std::max<std::int64_t>(0, k - config_.lag);
      const auto waited = Clock::now();
      std::vector<torch::Tensor> weights;
      {
        std::unique_lock lock(mutex_);
        // Wait for this chunk's weights, and for room: at most lag + 1 chunks ahead (serial: and
        // for the learner to wait for it).
        changed_.wait(lock, [&] {
          return stop_ || (published_ > c.version && local - taken_ <= config_.lag &&
                           (!config_.serial || learner_waiting_));
        });
        if (stop_) return;
        if (loaded != c.version) weights = weights_.at(c.version);
        // Versions before this one are never needed again.
        weights_.erase(weights_.begin(), weights_.lower_bound(c.version));
      }
      c.wait_s = seconds_since(waited);
      if (loaded != c.version) {
        policy_.load(weights);
        loaded = c.version;
      }
      at::Generator generator =
          at::make_generator<at::CPUGeneratorImpl>(chunk_seed(config_.seed, k));
      c.obs = torch::empty({steps, n, obs_dim});
      c.first = torch::empty({steps, n});
      c.action = torch::empty({steps, n, act_dim});
      c.reward = torch::empty({steps, n});
      c.terminated = torch::empty({steps, n});
      c.truncated = torch::empty({steps, n});
      c.final_obs = torch::zeros({steps, n, obs_dim});
      if (images)
        c.image = torch::empty({steps, n, 3, image.size(2), image.size(3)}, torch::kUInt8);
      for (int t = 0; t < steps; ++t) {
        auto t0 = Clock::now();
        const auto action =
            policy_.act(obs, image, first, generator).to(torch::kFloat32).contiguous();
        c.policy_s += seconds_since(t0);
        if (action.size(0) != n || action.size(1) != act_dim)
          throw Error(SourceLocation{.field = "stream"},
                      "the policy returned actions of the wrong shape");
        // obs views the batch's observations: the chunk takes its copy before the step
        // overwrites them, and every other field is copied straight from the batch.
        c.obs[t] = obs;
        t0 = Clock::now();
        const engine::Batch& batch =
            env_.step(std::span<const float>(action.data_ptr<float>(), action.numel()));
        c.sim_s += seconds_since(t0);
        if (images) c.image[t] = image;
        c.first[t] = first;
        c.action[t] = action;
        c.reward[t] = view(batch.reward, n).squeeze(1);
        c.terminated[t] = view(batch.terminated, n).squeeze(1);
        c.truncated[t] = view(batch.truncated, n).squeeze(1);
        first = (c.terminated[t] + c.truncated[t]).clamp_max(1);
        if (first.any().item<bool>()) c.final_obs[t] = view(batch.final_obs, n);
        obs = view(batch.obs, n);
        if (images) {
          t0 = Clock::now();
          image = config_.frames(env_);
          c.sim_s += seconds_since(t0);
        }
      }
      c.next_obs = obs.clone();
      if (config_.snapshot_after && config_.snapshot_after(k))
        c.snapshot = StreamSnapshot{env_.snapshot(), policy_.state(), first.clone()};
      {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(c));
        learner_waiting_ = false;  // serial: this chunk is what it waited for
      }
      changed_.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

}  // namespace simlab::learners
