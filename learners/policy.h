// A trained PPO policy read back from its run folder, acting as the process that trained it did,
// and the guardrails an exported policy wraps around it:
//
//   runs/NAME/config.json + checkpoint.pt --load_trained_policy--> TrainedPolicy
//     act(obs [B, obs_dim]):  z = clamp((obs - mean) / sqrt(var + 1e-8), -10, 10)   (normalizer)
//                             a = pi(z)                              (the Gaussian's mean)
//                             a = clamp(a, low, high)                (the action bounds)
//
//   guarded_action(obs, prev_action) -> (action, flag): what policy.pt and policy.onnx compute
//     flag  = any non-finite element in the row of obs or prev_action
//     a     = flag ? safe : act(obs)          safe: zero clamped into [low, high]
//     a     = clamp(a, prev - max_delta, prev + max_delta)   (prev: non-finite rows read safe)
//     a     = clamp(a, low, high)             the limits win over the rate bound
//
// Export (learners/export.h) writes the same functions as TorchScript and ONNX; the parity tests
// compare them with these.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "engine/core/spec.h"
#include "learners/ppo.h"

namespace simlab::learners {

struct TrainedPolicy {
  std::filesystem::path run;  // the run folder
  nlohmann::json config;      // its config.json
  std::string scene;          // as trained: a built-in name or a spec file
  std::uint64_t seed = 0;
  std::int64_t steps = 0;                                 // config.json's target
  std::int64_t updates = 0, env_steps = 0, episodes = 0;  // the checkpoint's counters
  bool finished = false;                                  // env_steps >= steps
  std::optional<double> final_mean_return;                // the last metrics row's, if any
  double control_hz = 0;                                  // the scene's control rate
  engine::Space observation, action;                      // the scene's spaces
  int hidden = 64;

  ActorCritic model{nullptr};
  torch::Tensor obs_mean, obs_var;  // float64 [obs_dim]: the observation normalizer
  double obs_count = 0;
  torch::Tensor low, high;  // float32 [act_dim]: the bounds actions are clamped to (+-1 where
                            // the action space is unbounded), as training applied them

  int obs_dim() const { return observation.dim(); }
  int act_dim() const { return action.dim(); }
  // float32 [obs_dim]: what the normalizer subtracts and divides by, as float32 sees them.
  torch::Tensor norm_mean() const { return obs_mean.to(torch::kFloat32); }
  torch::Tensor norm_std() const { return (obs_var + 1e-8).sqrt().to(torch::kFloat32); }
  // The deterministic action for raw observations [B, obs_dim] (float32), clamped to the bounds.
  torch::Tensor act(const torch::Tensor& obs);
};

// Read a PPO run folder. Throws simlab::Error (exit 2 at the CLI) naming the folder and what is
// missing: no config.json, no checkpoint.pt, another algorithm, or a run that has not reached its
// configured steps (unless `allow_unfinished`).
TrainedPolicy load_trained_policy(const std::filesystem::path& run, bool allow_unfinished = false);

// The guardrails inside an exported policy, per action element (float32 [act_dim] each).
struct Guardrails {
  torch::Tensor low, high;    // limits
  torch::Tensor max_delta;    // the largest change per control step
  torch::Tensor safe_action;  // what a flagged row falls back to: zero clamped into the limits
};
// max_delta = fraction * (high - low); a fraction <= 0 means no rate bound (infinite max_delta).
Guardrails make_guardrails(const TrainedPolicy& policy, double max_delta_fraction);

// The reference of what exported policies compute (see the top of this file): action
// [B, act_dim] float32 and flag [B] bool.
std::pair<torch::Tensor, torch::Tensor> guarded_action(TrainedPolicy& policy, const Guardrails& g,
                                                       const torch::Tensor& obs,
                                                       const torch::Tensor& prev_action);

}  // namespace simlab::learners
