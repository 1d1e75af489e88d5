// A trained policy read back from its run folder (PPO or the world-model learner), acting as the
// process that trained it did, and the guardrails an exported policy wraps around it:
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
// Dreamer runs are recurrent: the state [B, S] packs the GRU state h (deter), the one-hot latent z
// (stoch x classes) and one `started` element; the initial state is zeros (S = deter + stoch *
// classes + 1). act_recurrent(obs, prev_action, state), deterministic (the latent's mode):
//     s  = state * started             (started 0: h, z and the action input zeroed, exactly as
//                                       training zeroes them on an episode's first step)
//     a' = clamp(2 (prev_action - low) / (high - low) - 1, -1, 1)     (the applied action, [-1, 1])
//     h  = GRU(img_in([z, a']), h)      z = one_hot(argmax posterior(h, encoder(symlog(obs))))
//     a  = low + (tanh(actor_mean(h, z)) + 1) / 2 (high - low), clamped; next state [h, z, 1]
//   guarded_recurrent_action(obs, prev_action, state) -> (action, flag, next_state): the flag and
//     the action as guarded_action(); a non-finite element of a state row flags it too; a flagged
//     row's next state is its state unchanged (the initial state where the state itself was not
//     finite), so the filter resumes where it was once the input is finite again.
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
#include "learners/dreamer.h"
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
  int action_repeat = 1;              // control steps each decision holds for (dreamer's option)
  double control_hz = 0;              // the policy's rate: the scene's control rate / action repeat
  engine::Space observation, action;  // the scene's spaces
  std::string algo = "ppo";           // ppo or dreamer
  std::string backend = "mujoco";     // the physics engine it trained on
  int hidden = 64;

  // PPO.
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
  // PPO: the deterministic action for raw observations [B, obs_dim] (float32), clamped to the
  // bounds.
  torch::Tensor act(const torch::Tensor& obs);

  // Dreamer: the world model (encoder, img_in, GRU and posterior act) and the actor.
  DreamerConfig dreamer;
  WorldModel world_model{nullptr};
  DreamerActor dreamer_actor{nullptr};

  bool recurrent() const { return algo == "dreamer"; }
  int deter_dim() const { return dreamer.deter; }
  int stoch_dim() const { return dreamer.stoch * dreamer.classes; }
  // The recurrent state's width (0 for PPO) and the initial state, zeros [B, state_dim].
  int state_dim() const { return recurrent() ? deter_dim() + stoch_dim() + 1 : 0; }
  torch::Tensor initial_state(std::int64_t batch) const {
    return torch::zeros({batch, state_dim()});
  }
  // Dreamer: the deterministic step (see the top of this file) for finite obs [B, obs_dim],
  // prev_action [B, act_dim] (the action applied last step, in the action's units) and state
  // [B, state_dim]: (action [B, act_dim] clamped to the bounds, next state [B, state_dim]).
  std::pair<torch::Tensor, torch::Tensor> act_recurrent(const torch::Tensor& obs,
                                                        const torch::Tensor& prev_action,
                                                        const torch::Tensor& state);
};

// Read a run folder of `simlab train` (PPO or dreamer). Throws simlab::Error (exit 2 at the CLI)
// naming the folder and what is missing: no config.json, no checkpoint.pt, another algorithm, or a
// run that has not reached its configured steps (unless `allow_unfinished`).
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

// The reference of what exported recurrent (dreamer) policies compute (see the top of this file).
struct GuardedStep {
  torch::Tensor action;      // float32 [B, act_dim]
  torch::Tensor flag;        // bool [B]
  torch::Tensor next_state;  // float32 [B, state_dim]
};
GuardedStep guarded_recurrent_action(TrainedPolicy& policy, const Guardrails& g,
                                     const torch::Tensor& obs, const torch::Tensor& prev_action,
                                     const torch::Tensor& state);

}  // namespace simlab::learners
