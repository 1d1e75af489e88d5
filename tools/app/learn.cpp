#include "tools/app/learn.h"

#include <sstream>
#include <string>

#include "scenes/scene.h"
#include "tools/app/run.h"

namespace simlab::app {

std::string apply_scene_recipe(learners::TrainConfig& config,
                               const std::function<bool(std::string_view setting)>& given) {
  if (config.algo != learners::Algo::kPpo) return "";
  const auto recipe = scenes::load_scene(scenes::resolve_scene(config.scene)).ppo_recipe;
  std::string applied;
  auto set = [&](const char* key, const auto& value, auto& field) {
    if (!value || given(key)) return;
    field = *value;
    std::ostringstream text;
    text << key << ' ' << *value;
    applied += (applied.empty() ? "" : ", ") + text.str();
  };
  set("steps", recipe.steps, config.steps);
  set("envs", recipe.envs, config.envs);
  set("horizon", recipe.horizon, config.ppo.horizon);
  set("hidden", recipe.hidden, config.ppo.hidden);
  set("epochs", recipe.epochs, config.ppo.epochs);
  set("minibatches", recipe.minibatches, config.ppo.minibatches);
  set("lr", recipe.lr, config.ppo.lr);
  set("gamma", recipe.gamma, config.ppo.gamma);
  set("lambda", recipe.lambda, config.ppo.lambda);
  set("entropy", recipe.entropy, config.ppo.entropy_coef);
  set("init_log_std", recipe.init_log_std, config.ppo.init_log_std);
  return applied;
}

learners::TrainResult train(const learners::TrainConfig& config,
                            const std::function<void(const nlohmann::json& row)>& on_update) {
  learners::check_train_config(config);
  const RunSpec run{.scene = config.scene,
                    .randomization = config.randomization,
                    .backend = config.backend,
                    .seed = config.seed,
                    .envs = config.envs,
                    .threads = config.threads};
  return learners::run_training(config, build_scene(run), on_update);
}

learners::EvalResult evaluate(learners::ExportedPolicy& policy,
                              const learners::EvalOptions& options) {
  // Without options.scene, the scene the card carries (learners::eval_spec): an exported policy
  // evaluates from any folder, and a model that changed since the export is refused.
  return evaluate(
      policy, options,
      scenes::with_randomization(learners::eval_spec(policy, options), options.randomization));
}

learners::EvalResult evaluate(learners::ExportedPolicy& policy,
                              const learners::EvalOptions& options, const scenes::SceneSpec& spec) {
  // build_scene takes the spec as given; the run supplies the engine and the seed.
  const RunSpec run{.scene = spec.file.string(),
                    .randomization = options.randomization,
                    .backend = options.backend,
                    .seed = options.seed};
  return learners::evaluate_policy(policy, build_scene(run, spec), options);
}

}  // namespace simlab::app
