// Training and evaluation as the front ends run them: the scene is built from the typed run
// description once, here, and the learners receive it built (builds with LibTorch only).
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "learners/evaluate.h"
#include "learners/trainer.h"

namespace simlab::app {

// config.scene with config.randomization on config.backend, seeded with config.seed, then
// learners::run_training. A bad configuration or scene leaves no run folder behind.
learners::TrainResult train(const learners::TrainConfig& config,
                            const std::function<void(const nlohmann::json& row)>& on_update = {});

// options.scene (else the card's) with the options' randomization, backend and seed, then
// learners::evaluate_policy.
learners::EvalResult evaluate(learners::ExportedPolicy& policy,
                              const learners::EvalOptions& options);

}  // namespace simlab::app
