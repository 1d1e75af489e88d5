// The world model's posterior filter over a whole sequence as one autograd node (internal to
// learners/dreamer.cpp). Per step t, for a batch of B sequences:
//
//   hm = h_{t-1} * keep_t, zm = z_{t-1} * keep_t          (an episode starts: forget the state)
//   x  = SiLU(LN(zm Wz^T + A_t))                          A_t: the action's share, precomputed
//   h_t = GRU(x, hm)                                      PyTorch's GRUCell (reset, update, new)
//   y  = SiLU(LN(h_t Wh^T + E_t))                         E_t: the embedding's share, precomputed
//   l_t = y Wo^T + bo                                     posterior logits [B, groups * classes]
//   z_t = one-hot sample of p = (1 - mix) softmax(l_t) + mix / classes (categorical_sample)
//         (straight-through: the gradient of z_t passes to p)
//
// Written out with plain tensor ops, forward and backward: autograd records one node instead of
// some eighty per step, and each weight's gradient is one matrix product over all L x B rows
// instead of L small ones accumulated. The same ops run on the CPU and on a GPU (fewer, larger
// kernels), and capture in a CUDA graph like any other. Tested against the step-by-step
// composition of WorldModel's own layers, values and gradients (tests/learners/dreamer_test.cpp).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace simlab::learners::detail {

struct RssmScanWeights {
  torch::Tensor z_in;                      // Wz^T [Z, H]: the latent's share of img_in
  torch::Tensor in_norm_w, in_norm_b;      // LN after img_in [H]
  torch::Tensor w_ih, w_hh, b_ih, b_hh;    // the GRU's [3D, H], [3D, D], [3D], [3D]
  torch::Tensor h_in;                      // Wh^T [D, H]: the GRU state's share of post
  torch::Tensor post_norm_w, post_norm_b;  // LN after post's first layer [H]
  torch::Tensor out_w, out_b;              // post's output layer [Z, H], [Z]
};

struct RssmScanOutput {
  torch::Tensor deter;   // [L, B, D]
  torch::Tensor stoch;   // [L, B, Z] one-hot (straight-through)
  torch::Tensor logits;  // [L, B, Z]
  torch::Tensor index;   // [L, B, groups] stoch's columns (categorical_sample)
};

// A sample from categorical probabilities [.., groups, classes], one uniform number u [.., groups]
// per group (the class where the group's CDF first exceeds u): its one-hot [.., groups, classes]
// and its column indices [.., groups] in the flattened latent (group g's class c: g * classes + c).
struct Categorical {
  torch::Tensor one_hot, index;
};
Categorical categorical_sample(const torch::Tensor& probs, const torch::Tensor& u);

// from_action, from_embed [L, B, H]; keep [L, B, 1] (0 where an episode starts); noise
// [L, B, groups] uniform numbers, one per latent group and step.
RssmScanOutput rssm_scan(const torch::Tensor& from_action, const torch::Tensor& from_embed,
                         const torch::Tensor& keep, const torch::Tensor& noise,
                         const RssmScanWeights& w, std::int64_t groups, std::int64_t classes,
                         double unimix, double eps);

}  // namespace simlab::learners::detail
