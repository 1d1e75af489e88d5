// The actor's rollout in the world model's imagination as one autograd node (internal to
// learners/dreamer.cpp), for the "backprop" actor gradient. From S start states, per step k:
//
//   actor (on the features, not differentiated):  o = MLP([h_k, z_k]) -> mean = 5 tanh(o_m / 5),
//       std = 0.9 sigmoid(o_s + 2) + 0.1, u = mean + std eps_k, a_k = tanh(u),
//       entropy_k = sum log std
//   dynamics (frozen weights, differentiated):    x = SiLU(LN([z_k, a_k] Wi^T)),
//       h_{k+1} = GRU(x, h_k), l = MLP_prior(h_{k+1}), z_{k+1} = one-hot sample of
//       p = (1 - mix) softmax(l) + mix / classes (straight-through)
//
// Gradients reach the actor's weights through a_k (and the entropy through std) and flow back
// through the dynamics from every later step's h and z; the world model's weights get none. Written
// out with plain tensor ops, forward and backward, the actor's weight gradients one product over
// all H x S rows (as learners/rssm_scan.h does for the posterior filter). Tested against the same
// steps composed from the model's layers under autograd (tests/learners/dreamer_test.cpp).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace simlab::learners::detail {

struct ImagineWeights {
  // The actor: Linear [H, D + Z] (no bias), LN, SiLU, Linear [H, H] (no bias), LN, SiLU,
  // Linear [2A, H] + bias.
  torch::Tensor actor_w1, actor_g1, actor_b1, actor_w2, actor_g2, actor_b2, actor_w3, actor_b3;
  // img_in: Linear [H, Z + A] (z first, no bias), LN.
  torch::Tensor in_w, in_g, in_b;
  torch::Tensor w_ih, w_hh, b_ih, b_hh;  // the GRU
  // The prior: Linear [H, D] (no bias), LN, SiLU, Linear [Z, H] + bias.
  torch::Tensor prior_w1, prior_g1, prior_b1, prior_w2, prior_b2;
};

struct ImagineOutput {
  torch::Tensor deter;     // [H + 1, S, D], the start first
  torch::Tensor stoch;     // [H + 1, S, Z] one-hot (straight-through)
  torch::Tensor index;     // [H + 1, S, groups] stoch's columns
  torch::Tensor entropy;   // [H, S] sum of log std of the action distribution at each step
  torch::Tensor pre_tanh;  // [H, S, A] the sampled u (the action is tanh(u)), as data
};

// Start states deter0 [S, D], stoch0 [S, Z] with their columns index0 [S, groups]; action noise
// [H, S, A] (standard normal); latent_u [H, S, groups] (uniform).
ImagineOutput imagine_scan(const torch::Tensor& deter0, const torch::Tensor& stoch0,
                           const torch::Tensor& index0, const torch::Tensor& action_noise,
                           const torch::Tensor& latent_u, const ImagineWeights& w,
                           std::int64_t groups, std::int64_t classes, double unimix, double eps);

}  // namespace simlab::learners::detail
