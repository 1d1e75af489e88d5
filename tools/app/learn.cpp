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
  // Without a scene: the one the card carries (its spec text, its model checked by hash), so that
  // an exported policy evaluates from any folder.
  const RunSpec run{.scene = !options.scene.empty() ? options.scene : "(the policy card's)",
                    .randomization = options.randomization,
                    .backend = options.backend,
                    .seed = options.seed};
  const auto spec = !options.scene.empty() ? load_spec(run)
                                           : scenes::with_randomization(
                                                 learners::card_scene(policy), run.randomization);
  return learners::evaluate_policy(policy, build_scene(run, spec), options);
}

}  // namespace simlab::app
