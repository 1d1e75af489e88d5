// Training as the front ends run it, for learner tests: the run's scene built from its
// description (what tools/app does), then learners::run_training.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "learners/trainer.h"
#include "scenes/scene.h"

namespace simlab::test {

inline learners::TrainResult train(
    const learners::TrainConfig& c,
    const std::function<void(const nlohmann::json& row)>& on_update = {}) {
  learners::check_train_config(c);
  return learners::run_training(
      c, scenes::build_scene(c.scene, c.randomization, {.seed = c.seed, .backend = c.backend}),
      on_update);
}

}  // namespace simlab::test
