#include "learners/policy.h"

#include <cmath>
#include <fstream>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "learners/run_folder.h"
#include "scenes/scene.h"

namespace simlab::learners {
namespace fs = std::filesystem;
namespace {

Error run_error(const fs::path& file, const std::string& message) {
  return Error(SourceLocation{.file = file.string()}, message);
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const fs::path& file,
                          const std::string& key) {
  torch::Tensor t;
  try {
    archive.read(key, t);
  } catch (const c10::Error&) {
    throw run_error(file, "the checkpoint has no '" + key + "': not a PPO checkpoint");
  }
  return t;
}

void load_ppo(TrainedPolicy& p, torch::serialize::InputArchive& archive, const fs::path& checkpoint,
              double init_log_std) {
  const int obs_dim = p.obs_dim(), act_dim = p.act_dim();
  p.model = ActorCritic(obs_dim, act_dim, p.hidden, init_log_std);
  torch::serialize::InputArchive model;
  try {
    archive.read("model", model);
    detail::load_module(*p.model, model, checkpoint, "model");  // shapes checked first
  } catch (const c10::Error& e) {
    throw run_error(checkpoint, "its model does not fit scene '" + p.scene + "' (" +
                                    std::to_string(obs_dim) + " observations, " +
                                    std::to_string(act_dim) + " actions, " +
                                    std::to_string(p.hidden) + " hidden units)");
  }
  p.model->eval();
  p.obs_mean = read_tensor(archive, checkpoint, "norm_mean").to(torch::kFloat64).clone();
  p.obs_var = read_tensor(archive, checkpoint, "norm_var").to(torch::kFloat64).clone();
  p.obs_count = read_tensor(archive, checkpoint, "norm_count").item<double>();
  if (p.obs_mean.numel() != obs_dim)
    throw run_error(checkpoint, "its normalizer has " + std::to_string(p.obs_mean.numel()) +
                                    " observations; scene '" + p.scene + "' has " +
                                    std::to_string(obs_dim));
}

void load_dreamer(TrainedPolicy& p, torch::serialize::InputArchive& archive,
                  const fs::path& checkpoint) {
  const int obs_dim = p.obs_dim(), act_dim = p.act_dim();
  p.world_model = WorldModel(obs_dim, act_dim, p.dreamer);
  p.dreamer_actor = DreamerActor(p.deter_dim() + p.stoch_dim(), act_dim, p.dreamer.hidden);
  torch::serialize::InputArchive model, actor;
  try {
    archive.read("world_model", model);
    archive.read("actor", actor);
  } catch (const c10::Error&) {
    throw run_error(checkpoint,
                    "the checkpoint has no 'world_model' and 'actor': not a dreamer "
                    "checkpoint");
  }
  try {
    detail::load_module(*p.world_model, model, checkpoint, "world_model");
    detail::load_module(*p.dreamer_actor, actor, checkpoint, "actor");
  } catch (const c10::Error&) {
    throw run_error(checkpoint, "its world model does not fit scene '" + p.scene + "' (" +
                                    std::to_string(obs_dim) + " observations, " +
                                    std::to_string(act_dim) + " actions, deter " +
                                    std::to_string(p.dreamer.deter) + ", stoch " +
                                    std::to_string(p.dreamer.stoch) + " x " +
                                    std::to_string(p.dreamer.classes) + ", hidden " +
                                    std::to_string(p.dreamer.hidden) + ")");
  }
  p.world_model->eval();
  p.dreamer_actor->eval();
}

void read_final_return(TrainedPolicy& p) {
  std::ifstream metrics(p.run / "metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line))
    if (!line.empty()) last = line;
  if (!last.empty()) {
    const auto row = nlohmann::json::parse(last, nullptr, false);
    if (row.is_object() && row.contains("mean_return") && row["mean_return"].is_number())
      p.final_mean_return = row["mean_return"].get<double>();
  }
}

}  // namespace

torch::Tensor TrainedPolicy::act(const torch::Tensor& obs) {
  torch::NoGradGuard no_grad;
  SIMLAB_CHECK(!recurrent()) << "act is for PPO policies; dreamer's is act_recurrent";
  ObsNormalizer norm(obs_dim());
  norm.set(obs_mean, obs_var, obs_count);
  const auto a = model->mean(norm.normalize(obs.to(torch::kFloat32)));
  return torch::max(torch::min(a, high), low);
}

std::pair<torch::Tensor, torch::Tensor> TrainedPolicy::act_recurrent(
    const torch::Tensor& obs, const torch::Tensor& prev_action, const torch::Tensor& state) {
  torch::NoGradGuard no_grad;
  SIMLAB_CHECK(recurrent()) << "act_recurrent is for dreamer policies";
  const int d = deter_dim(), z = stoch_dim();
  const Latent prev{state.slice(1, 0, d), state.slice(1, d, d + z)};
  const auto first = 1 - state.select(1, d + z);
  const auto a_prev = (2 * (prev_action - low) / (high - low) - 1).clamp(-1, 1);
  const auto deter = world_model->step_deter(prev, a_prev, first);
  const auto embed = world_model->embed(obs.to(torch::kFloat32));
  const auto stoch =
      world_model->sample(world_model->posterior_logits(deter, embed), nullptr, /*mode=*/true);
  const auto mean = dreamer_actor->forward(torch::cat({deter, stoch}, -1)).first;
  auto a = low + (torch::tanh(mean) + 1) * 0.5 * (high - low);
  a = torch::max(torch::min(a, high), low);
  return {a, torch::cat({deter, stoch, torch::ones({obs.size(0), 1})}, 1)};
}

TrainedPolicy load_trained_policy(const fs::path& run, bool allow_unfinished) {
  TrainedPolicy p;
  p.run = run;
  const fs::path config_file = run / "config.json", checkpoint = run / "checkpoint.pt";
  if (!engine::is_dir(run)) throw run_error(run, "no such run folder");
  if (!engine::path_exists(config_file))
    throw run_error(run, "no config.json: not a run folder of `simlab train`");
  try {
    std::ifstream in(config_file);
    in >> p.config;
  } catch (const nlohmann::json::exception&) {
    throw run_error(config_file, "not valid JSON");
  }
  p.algo = p.config.value("algo", "ppo");
  if (p.algo != "ppo" && p.algo != "dreamer")
    throw Error(SourceLocation{.file = config_file.string(), .field = "algo"},
                "'" + p.algo + "': export and evaluation handle ppo and dreamer runs");
  if (!engine::path_exists(checkpoint))
    throw run_error(run,
                    "has no finished policy: no checkpoint.pt (the run has not written one "
                    "yet; train it with `simlab train --out " +
                        run.string() + "`)");
  try {
    p.scene = p.config.at("scene").get<std::string>();
    p.seed = p.config.at("seed").get<std::uint64_t>();
    p.steps = p.config.at("steps").get<std::int64_t>();
    p.backend = p.config.value("backend", std::string("mujoco"));  // absent: mujoco
    if (p.recurrent()) {
      const auto& d = p.config.at("dreamer");
      if (d.value("obs", std::string("state")) != "state")
        throw Error(SourceLocation{.file = config_file.string(), .field = "dreamer.obs"},
                    "'" + d.at("obs").get<std::string>() +
                        "': image policies cannot be exported yet (nor evaluated outside "
                        "training); train with --obs state to export");
      p.dreamer.deter = d.at("deter").get<int>();
      p.dreamer.stoch = d.at("stoch").get<int>();
      p.dreamer.classes = d.at("classes").get<int>();
      p.dreamer.hidden = d.at("hidden").get<int>();
      p.dreamer.unimix = d.value("unimix", p.dreamer.unimix);
      p.action_repeat = d.value("action_repeat", 1);
      if (p.action_repeat < 1)
        throw Error(SourceLocation{.file = config_file.string(), .field = "dreamer.action_repeat"},
                    std::to_string(p.action_repeat) + ": must be >= 1");
      p.hidden = p.dreamer.hidden;
    } else {
      p.hidden = p.config.at("ppo").at("hidden").get<int>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw run_error(config_file, std::string("missing or bad key: ") + e.what());
  }
  const double init_log_std = p.recurrent() ? 0.0 : p.config.at("ppo").value("init_log_std", -0.5);

  torch::serialize::InputArchive archive;
  detail::load_archive(archive, checkpoint);  // checksum first, then parsed
  const auto counters = read_tensor(archive, checkpoint, "counters");
  // PPO: [updates, env steps, episodes]; dreamer: [iterations, env steps, episodes, updates].
  p.updates = counters[p.recurrent() ? 3 : 0].item<std::int64_t>();
  p.env_steps = counters[1].item<std::int64_t>();
  p.episodes = counters[2].item<std::int64_t>();
  p.finished = p.env_steps >= p.steps;
  if (!p.finished && !allow_unfinished)
    throw run_error(run, "has no finished policy: its checkpoint is at " +
                             std::to_string(p.env_steps) + " of " + std::to_string(p.steps) +
                             " env steps (finish it with `simlab train ... --resume`, or pass "
                             "--allow-unfinished)");

  // The scene gives the spaces, as training read them.
  const auto scene = scenes::build_scene(p.scene, scenes::Randomization::kTrain,
                                         {.seed = p.seed, .max_variants = 1});
  const auto& v0 = scene.variants.at(0);
  p.observation = v0.task.observe ? v0.task.observation : v0.model->info().observation;
  p.action = v0.model->info().action;
  p.control_hz = scene.spec.control_hz / p.action_repeat;  // the policy's own rate
  const int act_dim = p.act_dim();
  p.low = torch::full({act_dim}, -1.0f);
  p.high = torch::full({act_dim}, 1.0f);
  for (int k = 0; k < act_dim; ++k) {
    if (std::isfinite(p.action.low()[k])) p.low[k] = p.action.low()[k];
    if (std::isfinite(p.action.high()[k])) p.high[k] = p.action.high()[k];
  }

  if (p.recurrent()) {
    load_dreamer(p, archive, checkpoint);
  } else {
    load_ppo(p, archive, checkpoint, init_log_std);
  }
  read_final_return(p);
  return p;
}

Guardrails make_guardrails(const TrainedPolicy& policy, double max_delta_fraction) {
  Guardrails g;
  g.low = policy.low.clone();
  g.high = policy.high.clone();
  g.max_delta = max_delta_fraction > 0
                    ? ((g.high - g.low) * max_delta_fraction).to(torch::kFloat32)
                    : torch::full({policy.act_dim()}, std::numeric_limits<float>::infinity());
  g.safe_action = torch::max(torch::min(torch::zeros({policy.act_dim()}), g.high), g.low);
  return g;
}

std::pair<torch::Tensor, torch::Tensor> guarded_action(TrainedPolicy& policy, const Guardrails& g,
                                                       const torch::Tensor& obs,
                                                       const torch::Tensor& prev_action) {
  torch::NoGradGuard no_grad;
  const auto bad_obs = torch::isnan(obs) | torch::isinf(obs);
  const auto bad_prev = torch::isnan(prev_action) | torch::isinf(prev_action);
  const auto flag = bad_obs.any(1) | bad_prev.any(1);
  const auto x = torch::where(bad_obs, torch::zeros_like(obs), obs);
  const auto safe = g.safe_action.expand_as(prev_action);
  const auto prev = torch::where(bad_prev, safe, prev_action);
  auto a = policy.act(x);
  a = torch::where(flag.unsqueeze(1), safe, a);
  a = torch::max(torch::min(a, prev + g.max_delta), prev - g.max_delta);
  a = torch::max(torch::min(a, g.high), g.low);
  return {a, flag};
}

GuardedStep guarded_recurrent_action(TrainedPolicy& policy, const Guardrails& g,
                                     const torch::Tensor& obs, const torch::Tensor& prev_action,
                                     const torch::Tensor& state) {
  torch::NoGradGuard no_grad;
  const auto bad_obs = torch::isnan(obs) | torch::isinf(obs);
  const auto bad_prev = torch::isnan(prev_action) | torch::isinf(prev_action);
  const auto bad_state = (torch::isnan(state) | torch::isinf(state)).any(1, /*keepdim=*/true);
  const auto flag = bad_obs.any(1) | bad_prev.any(1) | bad_state.squeeze(1);
  const auto x = torch::where(bad_obs, torch::zeros_like(obs), obs);
  const auto safe = g.safe_action.expand_as(prev_action);
  const auto prev = torch::where(bad_prev, safe, prev_action);
  const auto s = torch::where(bad_state, torch::zeros_like(state), state);
  auto [a, next] = policy.act_recurrent(x, prev, s);
  a = torch::where(flag.unsqueeze(1), safe, a);
  a = torch::max(torch::min(a, prev + g.max_delta), prev - g.max_delta);
  a = torch::max(torch::min(a, g.high), g.low);
  return {a, flag, torch::where(flag.unsqueeze(1), s, next)};
}

}  // namespace simlab::learners
