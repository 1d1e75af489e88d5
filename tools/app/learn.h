// Training and evaluation as the front ends run them: the scene is built from the typed run
// description once, here, and the learners receive it built (builds with LibTorch only).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "learners/evaluate.h"
#include "learners/trainer.h"

namespace simlab::app {

// The scene's [train.ppo] recipe (scenes::PpoRecipe) into `config` for every setting whose
// command-line name (`steps`, `envs`, `horizon`, `hidden`, `epochs`, `minibatches`, `lr`, `gamma`,
// `lambda`, `entropy`, `init_log_std`) `given` says the user did not set. PPO runs only. Returns
// what it set, as "envs 256, horizon 32" ("" when nothing), for the run's first line.
std::string apply_scene_recipe(learners::TrainConfig& config,
                               const std::function<bool(std::string_view setting)>& given);

// config.scene with config.randomization on config.backend, seeded with config.seed, then
// learners::run_training. A bad configuration or scene leaves no run folder behind.
learners::TrainResult train(const learners::TrainConfig& config,
                            const std::function<void(const nlohmann::json& row)>& on_update = {});

// options.scene (else the card's) with the options' randomization, backend and seed, then
// learners::evaluate_policy.
learners::EvalResult evaluate(learners::ExportedPolicy& policy,
                              const learners::EvalOptions& options);
// The same on `spec` exactly as given (its randomization already chosen: a sweep point).
learners::EvalResult evaluate(learners::ExportedPolicy& policy,
                              const learners::EvalOptions& options, const scenes::SceneSpec& spec);

}  // namespace simlab::app
