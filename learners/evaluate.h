// Evaluation of an exported policy (policy.pt) on a scene, behind `simlab eval`:
//
//   policy.pt + policy_card.json --load_exported_policy--> ExportedPolicy
//   scene (train | heldout | none randomization) --> K episodes, episode k = EpisodeRollout k of
//   the seed (engine/episode_rollout.h: deterministic, no auto-reset), all stepped together: one
//   forward call per control step for every running episode, with each episode's previous action
//   --> returns, success, safety figures --> JSON + a markdown table (+ a sweep plot)
//
// Safety figures, per control step of every episode:
//   joint_limit_share     steps in which a limited hinge or slide joint sits at or beyond its range
//   saturation_share      action elements at their limit (within 1e-6 of the range)
//   unwanted_contacts     contacts touching a body that is not allowed to touch (the world, bodies
//                         whose names contain an allowed word: foot, shin, hand, finger..., and
//                         procedural objects are allowed), per step
//   action_rate, jerk     mean |a_t - a_t-1| and |a_t - 2 a_t-1 + a_t-2| over elements and steps
//   guard_flags           steps in which the policy raised its NaN/Inf flag
// Success: for scenes with a `near` term (termination first, else reward), the share of episodes
// whose last step satisfies every such term; scenes without one report null (n/a).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "engine/core/spec.h"
#include "engine/physics/backend.h"
#include "learners/card.h"
#include "scenes/scene.h"

namespace simlab::learners {

struct ExportedPolicy {
  std::filesystem::path file;
  std::filesystem::path card_file;  // the policy_card.json beside it ("" if read from the module)
  torch::jit::Module module;
  nlohmann::json card;
  // Recurrent policies (dreamer): each episode's state [episodes, state_dim], set by reset().
  torch::Tensor state;

  // The recurrent state's width: 0 for a feed-forward policy. Throws simlab::Error where the
  // card's interface.recurrent and the module disagree.
  int state_dim() const;
  // The card's action limits (missing bounds: [-1, 1]).
  ActionLimits action_limits() const;
  // Start `episodes` episodes: each one's state is the initial state (zeros).
  void reset(std::int64_t episodes);
  // (action [B, act_dim], flag [B]) for obs [B, obs_dim] and prev_action [B, act_dim]. A
  // recurrent policy reads and advances the states of `episodes` (one index per row, into
  // reset()'s episodes; empty: 0..B-1), so rows may be any subset of the running episodes; it
  // throws simlab::Error without reset().
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& obs,
                                                  const torch::Tensor& prev_action,
                                                  const std::vector<int>& episodes = {});
};

// Load a policy.pt written by `simlab export`, and its card: policy_card.json beside it, else the
// card the module carries. Throws simlab::Error naming the file.
ExportedPolicy load_exported_policy(const std::filesystem::path& file);

// The card's scene (card_scene in learners/card.h), naming the card or the policy file.
scenes::SceneSpec card_scene(const ExportedPolicy& policy);

struct EvalOptions {
  std::string scene;  // built-in name or spec file; "": the card's scene
  scenes::Randomization randomization = scenes::Randomization::kTrain;
  int episodes = 20;
  std::uint64_t seed = 1000;
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  std::string sweep;                // a randomized parameter: "body_mass" or "body_mass:pole"
  std::filesystem::path sweep_png;  // where its plot goes (required with sweep)
  std::vector<std::string> allowed_contacts = {"foot",   "feet", "toe",   "shin", "hand",
                                               "finger", "grip", "wheel", "tip"};
  // For videos (`simlab eval --video`): called after every control step of episodes
  // 0 .. frame_episodes - 1 with the world and its variant (episodes step in turns).
  int frame_episodes = 0;
  std::function<void(const scenes::Scene& scene, int episode, int variant,
                     const engine::physics::World& world)>
      on_frame;
};

struct EvalResult {
  nlohmann::json json;
  std::string markdown;
};

// The spec an evaluation runs on, its randomization not yet applied: options.scene (a name or a
// file), else the card's (card_scene).
scenes::SceneSpec eval_spec(const ExportedPolicy& policy, const EvalOptions& options);

// Evaluate on `scene` (options.scene or the card's, built with the options' randomization, backend
// and seed); throws simlab::Error on bad input (a sweep parameter that is not randomized, a card
// that does not match the scene), naming the field.
EvalResult evaluate_policy(ExportedPolicy& policy, const scenes::Scene& scene,
                           const EvalOptions& options);
// The same, building the scene from the options (scenes::build_scene).
EvalResult evaluate_policy(ExportedPolicy& policy, const EvalOptions& options);

}  // namespace simlab::learners
