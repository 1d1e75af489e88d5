#include "tools/app/learn.h"

#include <string>

#include "tools/app/run.h"

namespace simlab::app {

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
  // Without options.scene, the scene the card carries: an exported policy evaluates from any
  // folder, and a model that changed since the export is refused.
  const RunSpec run{.scene = !options.scene.empty()
                                 ? options.scene
                                 : policy.card.at("scene").at("spec").get<std::string>(),
                    .randomization = options.randomization,
                    .backend = options.backend,
                    .seed = options.seed};
  const auto spec =
      scenes::with_randomization(learners::eval_spec(policy, options), run.randomization);
  return learners::evaluate_policy(policy, build_scene(run, spec), options);
}

}  // namespace simlab::app
