#include "learners/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "engine/core/error.h"
#include "engine/io/image.h"
#include "learners/distributed.h"
#include "learners/dreamer.h"
#include "learners/frames.h"
#include "learners/run_folder.h"
#include "learners/tensor_view.h"
#include "learners/threads.h"
#include "scenes/scene.h"

namespace simlab::learners {
namespace fs = std::filesystem;
using detail::mix;
using detail::train_error;
namespace {

// The columns of metrics.csv, in order; metrics.jsonl rows carry the same keys.
const std::vector<std::string> kColumns = {
    "update",          "env_steps", "episodes",  "mean_return",   "policy_loss",
    "value_loss",      "entropy",   "approx_kl", "clip_fraction", "explained_variance",
    "env_steps_per_s", "sim_s",     "learn_s",   "wall_s"};

struct Counters {
  std::int64_t update = 0, env_steps = 0, episodes = 0;
  double wall_s = 0;
  detail::RecentReturns recent;
};

void save_checkpoint(const fs::path& file, Ppo& ppo, const ObsNormalizer& norm,
                     const ObsNormalizer& return_stats, const Counters& c) {
  torch::serialize::OutputArchive archive, model, optimizer;
  ppo.model()->save(model);
  ppo.optimizer().save(optimizer);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("norm_mean", norm.mean());
  archive.write("norm_var", norm.var());
  archive.write("norm_count", torch::tensor(norm.count(), torch::kFloat64));
  archive.write("return_mean", return_stats.mean());
  archive.write("return_var", return_stats.var());
  archive.write("return_count", torch::tensor(return_stats.count(), torch::kFloat64));
  detail::write_progress(archive, {c.update, c.env_steps, c.episodes}, c.wall_s, c.recent);
  detail::save_atomically(archive, file);
}

void load_checkpoint(const fs::path& file, Ppo& ppo, ObsNormalizer& norm,
                     ObsNormalizer& return_stats, Counters& c) {
  torch::serialize::InputArchive archive, model, optimizer;
  detail::load_archive(archive, file);  // checksum first, then parsed
  auto read = [&](const std::string& key, std::int64_t numel) {
    torch::Tensor t;  // fresh per key: reading into a defined tensor re-points its storage
    if (!archive.try_read(key, t) || t.numel() != numel || !t.is_floating_point())
      throw Error(SourceLocation{.file = file.string(), .field = key},
                  "missing, or not " + std::to_string(numel) +
                      " numbers: the checkpoint does not belong to this run's configuration");
    return t;
  };
  try {
    if (!archive.try_read("model", model) || !archive.try_read("optimizer", optimizer))
      throw Error(SourceLocation{.file = file.string(), .field = "model"},
                  "missing: not a PPO checkpoint");
    detail::load_module(*ppo.model(), model, file, "model");
    const auto dim = norm.mean().numel();
    const auto mean = read("norm_mean", dim), var = read("norm_var", dim);
    const auto count = read("norm_count", 1);
    const auto return_mean = read("return_mean", 1), return_var = read("return_var", 1);
    const auto return_count = read("return_count", 1);
    ppo.optimizer().load(optimizer);
    norm.set(mean, var, count.item<double>());
    return_stats.set(return_mean, return_var, return_count.item<double>());
    const auto counters = detail::read_progress(archive, c.wall_s, c.recent);
    c.update = counters.at(0), c.env_steps = counters.at(1), c.episodes = counters.at(2);
  } catch (const c10::Error& e) {
    throw Error(SourceLocation{.file = file.string()},
                std::string("does not match this run: ") + e.what_without_backtrace());
  } catch (const std::out_of_range&) {
    throw Error(SourceLocation{.file = file.string(), .field = "counters"}, "too few counters");
  }
}

}  // namespace

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = {{"scene", scene},
                      {"algo", algo_name(algo)},
                      {"steps", steps},
                      {"envs", envs},
                      {"seed", seed}};
  // PPO's envs start afresh at every checkpoint, so its period is part of the run; a dreamer
  // checkpoint holds the envs and changes nothing.
  if (algo != Algo::kDreamer) j["checkpoint_every"] = checkpoint_every;
  // Only when not the default, so that run folders from before the option still resume.
  if (randomization != scenes::Randomization::kTrain)
    j["randomization"] = scenes::randomization_name(randomization);
  // The same: runs from before --backend resume.
  if (backend != engine::physics::BackendKind::kMuJoCo)
    j["backend"] = engine::physics::backend_name(backend);
  if (algo == Algo::kDreamer) {
    const auto& d = dreamer;
    j["dreamer"] = {{"chunk", d.chunk},
                    {"lag", d.lag},
                    {"batch", d.batch},
                    {"seq_len", d.seq_len},
                    {"train_ratio", d.train_ratio},
                    {"prefill", d.prefill},
                    {"replay", d.replay},
                    {"deter", d.deter},
                    {"stoch", d.stoch},
                    {"classes", d.classes},
                    {"hidden", d.hidden},
                    {"horizon", d.horizon},
                    {"imag_starts", d.imag_starts},
                    {"gamma", d.gamma},
                    {"lambda", d.lambda},
                    {"model_lr", d.model_lr},
                    {"actor_lr", d.actor_lr},
                    {"critic_lr", d.critic_lr},
                    {"free_bits", d.free_bits},
                    {"kl_dyn", d.kl_dyn},
                    {"kl_rep", d.kl_rep},
                    {"unimix", d.unimix},
                    {"entropy", d.entropy},
                    {"model_clip", d.model_clip},
                    {"ac_clip", d.ac_clip},
                    {"slow_critic", d.slow_critic}};
    if (d.obs != "state") j["dreamer"]["obs"] = d.obs;
    if (d.actor_grad != "backprop") j["dreamer"]["actor_grad"] = d.actor_grad;
    if (d.action_repeat != 1) j["dreamer"]["action_repeat"] = d.action_repeat;
    return j;
  }
  j["ppo"] = {{"horizon", ppo.horizon},
              {"epochs", ppo.epochs},
              {"minibatches", ppo.minibatches},
              {"lr", ppo.lr},
              {"gamma", ppo.gamma},
              {"lambda", ppo.lambda},
              {"clip", ppo.clip},
              {"value_coef", ppo.value_coef},
              {"entropy_coef", ppo.entropy_coef},
              {"max_grad_norm", ppo.max_grad_norm},
              {"hidden", ppo.hidden},
              {"init_log_std", ppo.init_log_std},
              {"scale_rewards", ppo.scale_rewards}};
  return j;
}

namespace {

TrainResult run_ppo(const TrainConfig& config, const scenes::Scene& scene,
                    const detail::Spaces& spaces, int threads, torch::Device device,
                    const std::function<void(const nlohmann::json& row)>& on_update) {
  const int obs_dim = spaces.obs_dim, act_dim = spaces.act_dim;
  const auto low = spaces.low, high = spaces.high;
  // Data-parallel over c10d when torchrun's variables say so; rank 0 owns the run folder.
  const DistributedConfig dist_config = distributed_from_env();
  detail::RunFolder run(config, kColumns, dist_config.rank == 0);
  const bool writer = run.writer();
  const fs::path checkpoint = run.checkpoint();

  Ppo ppo(obs_dim, act_dim, config.ppo, device);
  ObsNormalizer norm(obs_dim);
  ObsNormalizer return_stats(1);  // of the discounted return, for reward scaling
  Counters c;
  if (config.resume) load_checkpoint(checkpoint, ppo, norm, return_stats, c);
  run.start(config.resume ? c.update : -1);
  std::unique_ptr<Distributed> dist;
  if (dist_config.enabled()) {
    dist = std::make_unique<Distributed>(dist_config, device);
    dist->broadcast(ppo.model()->parameters());  // every rank starts from rank 0's weights
    ppo.set_distributed(dist.get());
    // Each rank explores with its own noise (and, below, its own envs).
    torch::manual_seed(mix(config.seed ^ mix(0x5eed0000u + dist_config.rank)));
  }
  // Statistics summed over ranks, so every rank normalizes with the same numbers.
  auto update_stats = [&](ObsNormalizer& stats, const torch::Tensor& batch) {
    if (!dist) return stats.update(batch);
    const auto x = batch.to(torch::kFloat64);
    auto moments = torch::cat({torch::full({1}, static_cast<double>(x.size(0)), torch::kFloat64),
                               x.sum(0), x.square().sum(0)});
    dist->all_reduce_sum(moments);
    const double count = moments[0].item<double>();
    const auto dim = x.size(1);
    const auto mean = moments.slice(0, 1, 1 + dim) / count;
    const auto var = (moments.slice(0, 1 + dim, 1 + 2 * dim) / count - mean.square()).clamp_min(0);
    stats.update(count, mean, var);
  };
  const std::int64_t world = dist_config.world_size;

  const int n = config.envs, horizon = config.ppo.horizon;
  Rollout rollout(horizon, n, obs_dim, act_dim);
  std::unique_ptr<engine::VectorEnv> env;
  std::int64_t env_segment = -1;
  std::vector<double> episode_return(static_cast<std::size_t>(n), 0.0);
  torch::Tensor discounted;  // [N] running discounted return, for reward scaling
  torch::Tensor obs;         // raw observations of the current step [N, obs]
  const auto start = std::chrono::steady_clock::now();
  const double wall_before = c.wall_s;
  while (c.env_steps < config.steps) {
    const std::int64_t segment = c.update / config.checkpoint_every;
    if (segment != env_segment) {
      std::uint64_t env_seed = mix(config.seed ^ mix(segment));
      if (dist_config.rank > 0) env_seed = mix(env_seed ^ mix(dist_config.rank));
      env = scenes::make_env(scene, n, threads, env_seed);
      obs = view(env->reset().obs, n);  // until the next step: read before it
      std::fill(episode_return.begin(), episode_return.end(), 0.0);
      discounted = torch::zeros({n}, torch::kFloat64);
      env_segment = segment;
    }

    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < horizon; ++t) {
      update_stats(norm, obs);
      const auto o = norm.normalize(obs);
      torch::Tensor log_prob, value;
      const auto action = ppo.act(o, &log_prob, &value);
      const auto applied = torch::max(torch::min(action, high), low).contiguous();
      const engine::Batch& batch =
          env->step(std::span<const float>(applied.data_ptr<float>(), applied.numel()));
      auto reward = view(batch.reward, n).squeeze(1).clone();  // changed in place below
      auto done = torch::zeros({n});
      std::vector<std::int64_t> cut;  // truncated rows: bootstrap from the last observation
      for (int i = 0; i < n; ++i) {
        episode_return[i] += batch.reward(i, 0);
        if (batch.terminated(i, 0) || batch.truncated(i, 0)) {
          done[i] = 1;
          c.recent.add(episode_return[i]);
          episode_return[i] = 0;
          ++c.episodes;
          if (!batch.terminated(i, 0)) cut.push_back(i);
        }
      }
      if (config.ppo.scale_rewards) {
        discounted = discounted * config.ppo.gamma + reward.to(torch::kFloat64);
        update_stats(return_stats, discounted.unsqueeze(1));
        discounted = discounted * (1 - done.to(torch::kFloat64));
        reward = (reward / std::sqrt(return_stats.var()[0].item<double>() + 1e-8)).clamp(-10, 10);
      }
      if (!cut.empty()) {
        const auto rows = torch::tensor(cut, torch::kInt64);
        const auto final_obs = view(batch.final_obs, n).index_select(0, rows);
        reward.index_add_(0, rows, config.ppo.gamma * ppo.value(norm.normalize(final_obs)));
      }
      rollout.obs[t] = o;
      rollout.actions[t] = action;
      rollout.log_probs[t] = log_prob;
      rollout.values[t] = value;
      rollout.rewards[t] = reward;
      rollout.dones[t] = done;
      obs = view(batch.obs, n);
    }
    rollout.values[horizon] = ppo.value(norm.normalize(obs));
    const auto t1 = std::chrono::steady_clock::now();
    const PpoStats stats = ppo.update(rollout);
    const auto t2 = std::chrono::steady_clock::now();
    const double learn_s = std::chrono::duration<double>(t2 - t1).count();
    for (const auto& [name, value] :
         {std::pair{"policy_loss", stats.policy_loss}, std::pair{"value_loss", stats.value_loss},
          std::pair{"entropy", stats.entropy}})
      if (!std::isfinite(value))
        throw train_error("training", std::string(name) + " became " + std::to_string(value) +
                                          " at update " + std::to_string(c.update + 1) +
                                          "; the last good checkpoint is " + checkpoint.string());

    ++c.update;
    c.env_steps += static_cast<std::int64_t>(horizon) * n * world;  // over every rank
    c.wall_s = wall_before + std::chrono::duration<double>(t2 - start).count();
    const double sim_s = std::chrono::duration<double>(t1 - t0).count();
    const nlohmann::json row = {
        {"update", c.update},
        {"env_steps", c.env_steps},
        {"episodes", c.episodes},
        {"mean_return", c.recent.mean()},
        {"policy_loss", stats.policy_loss},
        {"value_loss", stats.value_loss},
        {"entropy", stats.entropy},
        {"approx_kl", stats.approx_kl},
        {"clip_fraction", stats.clip_fraction},
        {"explained_variance", stats.explained_variance},
        {"env_steps_per_s", static_cast<double>(horizon) * n / (sim_s + learn_s)},
        {"sim_s", sim_s},
        {"learn_s", learn_s},
        {"wall_s", c.wall_s}};
    run.append(row);
    if (writer && (c.update % config.checkpoint_every == 0 || c.env_steps >= config.steps)) {
      save_checkpoint(checkpoint, ppo, norm, return_stats, c);
      run.draw_curve();
    }
    if (on_update) on_update(row);
  }
  return {.rank = dist_config.rank,
          .world_size = dist_config.world_size,
          .parameters = parameter_fingerprint(ppo.model()->parameters())};
}

}  // namespace

namespace {

// A count in [lo, hi].
void check_count(const std::string& field, std::int64_t value, std::int64_t lo,
                 std::int64_t hi = std::numeric_limits<int>::max()) {
  if (value < lo || value > hi)
    throw train_error(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                 "], got " + std::to_string(value));
}

// A finite number in [lo, hi] (`open_lo`: (lo, hi]).
void check_real(const std::string& field, double value, double lo, double hi,
                bool open_lo = false) {
  std::ostringstream range;
  range << (open_lo ? "(" : "[") << lo << ", " << hi << "]";
  if (!std::isfinite(value) || value < lo || value > hi || (open_lo && value == lo)) {
    std::ostringstream got;
    got << value;
    throw train_error(field, "must be a finite number in " + range.str() + ", got " + got.str());
  }
}

void check_ppo(const PpoConfig& p, int envs) {
  check_count("ppo.horizon", p.horizon, 1, 1 << 20);
  check_count("ppo.epochs", p.epochs, 1, 1000);
  // Every minibatch needs at least one sample of the envs x horizon a rollout holds.
  check_count("ppo.minibatches", p.minibatches, 1,
              std::max<std::int64_t>(1, static_cast<std::int64_t>(envs) * p.horizon));
  check_real("ppo.lr", p.lr, 0, 1, true);
  check_real("ppo.gamma", p.gamma, 0, 1);
  check_real("ppo.lambda", p.lambda, 0, 1);
  check_real("ppo.clip", p.clip, 0, 10, true);
  check_real("ppo.value_coef", p.value_coef, 0, 1e6);
  check_real("ppo.entropy_coef", p.entropy_coef, 0, 1e6);
  check_real("ppo.max_grad_norm", p.max_grad_norm, 0, 1e12, true);
  check_count("ppo.hidden", p.hidden, 1, 1 << 20);
  check_real("ppo.init_log_std", p.init_log_std, -20, 5);
}

void check_dreamer(const DreamerConfig& d) {
  check_count("dreamer.chunk", d.chunk, 1, 1 << 20);
  check_count("dreamer.action_repeat", d.action_repeat, 0, 1000);
  check_count("dreamer.lag", d.lag, 0, 1);
  // Sizes bounded by memory are left to the update's own out-of-memory message.
  check_count("dreamer.batch", d.batch, 1);
  check_count("dreamer.seq_len", d.seq_len, 2);
  check_real("dreamer.train_ratio", d.train_ratio, 0, 1e6, true);
  check_count("dreamer.prefill", d.prefill, 0, std::numeric_limits<std::int64_t>::max());
  check_count("dreamer.replay", d.replay, d.seq_len, std::numeric_limits<std::int64_t>::max());
  check_count("dreamer.deter", d.deter, 1, 1 << 20);
  check_count("dreamer.stoch", d.stoch, 1, 1 << 12);
  check_count("dreamer.classes", d.classes, 2, 1 << 12);
  check_count("dreamer.hidden", d.hidden, 1, 1 << 20);
  check_count("dreamer.horizon", d.horizon, 1, 1000);
  check_count("dreamer.imag_starts", d.imag_starts, 0);  // 0: every start; at most batch x seq_len
  check_real("dreamer.gamma", d.gamma, 0, 1, true);
  check_real("dreamer.lambda", d.lambda, 0, 1);
  for (const auto& [field, lr] :
       {std::pair{"dreamer.model_lr", d.model_lr}, std::pair{"dreamer.actor_lr", d.actor_lr},
        std::pair{"dreamer.critic_lr", d.critic_lr}})
    check_real(field, lr, 0, 1, true);
  check_real("dreamer.free_bits", d.free_bits, 0, 1e6);
  check_real("dreamer.kl_dyn", d.kl_dyn, 0, 1e6);
  check_real("dreamer.kl_rep", d.kl_rep, 0, 1e6);
  check_real("dreamer.unimix", d.unimix, 0, 1);
  check_real("dreamer.entropy", d.entropy, 0, 1e6);
  check_real("dreamer.model_clip", d.model_clip, 0, 1e12, true);
  check_real("dreamer.ac_clip", d.ac_clip, 0, 1e12, true);
  check_real("dreamer.slow_critic", d.slow_critic, 0, 1, true);
}

}  // namespace

void check_train_config(const TrainConfig& config) {
  check_count("envs", config.envs, 1, 1 << 24);
  if (config.steps < 1) throw train_error("steps", "must be >= 1");
  check_count("threads", config.threads, 0, 4096);
  if (config.checkpoint_every < 1) throw train_error("checkpoint_every", "must be >= 1");
  if (config.algo == Algo::kPpo) check_ppo(config.ppo, config.envs);
  if (config.algo == Algo::kDreamer) check_dreamer(config.dreamer);
  if (config.randomization == scenes::Randomization::kHeldout)
    throw train_error("randomization",
                      "heldout: held-out ranges are for evaluation (simlab eval); train with "
                      "train or none");
}

TrainResult run_training(const TrainConfig& config, const scenes::Scene& scene,
                         const std::function<void(const nlohmann::json& row)>& on_update) {
  check_train_config(config);
  scenes::require_actions(scene);  // before the run folder exists
  torch::Device device = resolve_device(config.device);
  // Data-parallel on GPUs: each process on its own, as torchrun numbers them on a machine.
  if (const auto dist = distributed_from_env(); dist.enabled() && device.is_cuda())
    device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(dist.local_rank %
                                      std::max<std::int64_t>(1, torch::cuda::device_count())));
  const int threads = config.threads > 0
                          ? config.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_compute_threads(threads);
  torch::manual_seed(config.seed);

  // One env to read the spaces; the loops make their own.
  detail::Spaces spaces;
  {
    auto probe = scenes::make_env(scene, 1, 1, config.seed);
    spaces.obs_dim = probe->observation_space().dim();
    spaces.act_dim = probe->action_space().dim();
    spaces.low = torch::full({spaces.act_dim}, -1.0f);
    spaces.high = torch::full({spaces.act_dim}, 1.0f);
    for (int k = 0; k < spaces.act_dim; ++k) {
      const float lo = probe->action_space().low()[k], hi = probe->action_space().high()[k];
      if (std::isfinite(lo)) spaces.low[k] = lo;
      if (std::isfinite(hi)) spaces.high[k] = hi;
    }
  }
  if (config.algo == Algo::kDreamer && config.dreamer.obs != "state") {
    if (!config.dreamer.image_obs())
      throw train_error("dreamer.obs",
                        "'" + config.dreamer.obs + "': expected state, rgb or state,rgb");
    require_camera(scene, "dreamer.obs");
  }
  if (config.algo == Algo::kDreamer) {
    // The decision interval the run records (and resumes and exports with) is a number, never
    // "the scene's": a scene file that changes later does not change a run folder's meaning.
    TrainConfig resolved = config;
    if (resolved.dreamer.action_repeat == 0)
      resolved.dreamer.action_repeat =
          scene.spec.action_repeat > 0 ? scene.spec.action_repeat : kDefaultActionRepeat;
    return detail::run_dreamer(resolved, scene, spaces, threads, device, on_update);
  }
  return run_ppo(config, scene, spaces, threads, device, on_update);
}

}  // namespace simlab::learners
