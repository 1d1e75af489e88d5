// Policy export for robot stacks: a PPO or dreamer run folder becomes self-contained files that
// need neither simlab nor the scene to run.
//
//   runs/NAME --load_trained_policy--> TrainedPolicy --build_torchscript--> DIR/policy.pt
//                                                    --write_onnx--------> DIR/policy.onnx
//                                                    --policy_card-------> DIR/policy_card.json
//
// Both models compute guarded_action() of learners/policy.h, normalization, clamping and
// guardrails included:
//
//   forward(obs float32 [B, obs_dim], prev_action float32 [B, act_dim])
//       -> (action float32 [B, act_dim], flag bool [B])
//
// Dreamer policies are recurrent (guarded_recurrent_action() of learners/policy.h):
//
//   forward(obs [B, obs_dim], prev_action [B, act_dim], state float32 [B, state_dim])
//       -> (action [B, act_dim], flag bool [B], next_state float32 [B, state_dim])
//
// The initial state is zeros [B, state_dim] (policy.pt also has initial_state(batch) and a
// state_dim attribute); the card's interface.recurrent says so.
//
// The policy card is the contract between simulator and robot: the observation layout (names,
// units, the normalizer's mean and std, bounds), the action layout (names, limits, the rate bound,
// the safe action, the control rate), the scene and the randomization it was trained under, seed,
// steps, the final training return, evaluation results, and the simlab version.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "learners/policy.h"

namespace simlab::learners {

struct ExportOptions {
  std::vector<std::string> formats = {"torchscript", "onnx"};
  std::filesystem::path out;        // the folder to write into (created)
  double max_delta = 0.5;           // rate bound: this fraction of each action's range per step;
                                    // 0: none (negative: refused)
  bool allow_unfinished = false;    // export a run that has not reached its steps
  int eval_episodes = 10;           // evaluate policy.pt on the training randomization, on the
                                    // physics engine it trained on; 0: skip
  std::uint64_t eval_seed = 1000;   // episodes' seed (training used others)
  std::string simlab_version = "";  // written into the card
};

struct ExportResult {
  std::vector<std::filesystem::path> files;  // written, in the order of formats, then the card
  nlohmann::json card;
  double seconds = 0;  // export time, evaluation excluded
  double eval_seconds = 0;
};

// Export `run` (a run folder of `simlab train --algo ppo|dreamer`). Throws simlab::Error on bad
// input: a folder without a finished policy, an unknown format, ONNX without libonnx-dev.
ExportResult export_policy(const std::filesystem::path& run, const ExportOptions& options);

// The TorchScript module of guarded_action() (PPO) or guarded_recurrent_action() (dreamer), with
// the card as its `policy_card` attribute.
torch::jit::Module build_torchscript(const TrainedPolicy& policy, const Guardrails& guardrails,
                                     const std::string& card_json);

// A dreamer policy's acting weights by their names in the exported models: enc_w0/g0/b0,
// enc_w1/g1/b1 (encoder: Linear weight, LayerNorm gamma and beta), img_w/g/b, gru_w_ih, gru_w_hh,
// gru_b_ih, gru_b_hh, post_w0/g0/b0, post_w1, post_b1 (logits), pi_w0/g0/b0, pi_w1/g1/b1, pi_w2,
// pi_b2 (the actor's output: mean rows, then std rows).
std::vector<std::pair<std::string, torch::Tensor>> dreamer_tensors(const TrainedPolicy& policy);

// Whether this build writes ONNX (libonnx-dev was found).
bool onnx_available();
// Write guarded_action() (or guarded_recurrent_action()) as an ONNX model (opset 13) with the card
// in its metadata. Checked with ONNX's own checker before it is written; throws simlab::Error
// without libonnx-dev.
void write_onnx(const TrainedPolicy& policy, const Guardrails& guardrails,
                const std::string& card_json, const std::filesystem::path& file);

// The card, without evaluation results (export adds them).
nlohmann::json policy_card(const TrainedPolicy& policy, const Guardrails& guardrails,
                           double max_delta_fraction, const std::string& simlab_version);

}  // namespace simlab::learners
