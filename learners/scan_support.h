// What the two hand-written recurrences (rssm_scan.cpp, imagine_scan.cpp) share: the GRU step
// and its backward, the mixed categorical's backward, and how per-step tensors are kept for the
// backward pass. Internal to learners/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace simlab::learners::detail {

// [.., n] -> [rows, n]
inline torch::Tensor rows(const torch::Tensor& x) {
  return x.reshape({-1, x.size(-1)});
}

// Per-step tensors stay lists in the autograd context: stacking them for save_for_backward
// would copy every one, and the backward pass reads them step by step. Only what a batched
// weight gradient needs is stacked, there.
template <std::size_t N>
void keep_steps(torch::autograd::AutogradContext* ctx,
                const std::array<std::vector<torch::Tensor>, N>& saved) {
  for (std::size_t i = 0; i < N; ++i)
    ctx->saved_data["step" + std::to_string(i)] = saved[i];
}

template <std::size_t N>
std::array<std::vector<torch::Tensor>, N> kept_steps(torch::autograd::AutogradContext* ctx) {
  std::array<std::vector<torch::Tensor>, N> out;
  for (std::size_t i = 0; i < N; ++i)
    out[i] = ctx->saved_data["step" + std::to_string(i)].toTensorVector();
  return out;
}

// PyTorch's GRUCell, h' = n + z (h - n), n = tanh(gi_n + r gh_n), [r, z] = sigmoid(gi_rz + gh_rz),
// for x [B, X], h [B, D] and its weights transposed: [X, 3D], [D, 3D].
struct GruStep {
  torch::Tensor h, rz, n, ghn;  // the new state, and what its backward reads
};
inline GruStep gru_step(const torch::Tensor& x, const torch::Tensor& h, const torch::Tensor& w_ih_t,
                        const torch::Tensor& w_hh_t, const torch::Tensor& b_ih,
                        const torch::Tensor& b_hh) {
  const auto d = h.size(1);
  const auto gi = torch::addmm(b_ih, x, w_ih_t).split_with_sizes({2 * d, d}, 1);
  const auto gh = torch::addmm(b_hh, h, w_hh_t).split_with_sizes({2 * d, d}, 1);
  const auto rz = torch::sigmoid(gi[0] + gh[0]);
  const auto r_z = rz.split(d, 1);
  const auto n = torch::tanh(torch::addcmul(gi[1], r_z[0], gh[1]));
  return {torch::addcmul(n, r_z[1], h - n), rz, n, gh[1]};
}

// Its backward for dh' [B, D]: the gradients of the input gates gi and hidden gates gh [B, 3D]
// (for the weight gradients) and of h (with the weights [3D, D]).
struct GruGrads {
  torch::Tensor dgi, dgh, dh;
};
inline GruGrads gru_step_backward(const torch::Tensor& dh_next, const torch::Tensor& h,
                                  const GruStep& s, const torch::Tensor& w_hh) {
  const auto d = h.size(1);
  const auto r_z = s.rz.split(d, 1);
  const auto& r = r_z[0];
  const auto& z = r_z[1];
  const auto dn_pre = at::tanh_backward(dh_next - dh_next * z, s.n);
  const auto drz = at::sigmoid_backward(torch::cat({dn_pre * s.ghn, dh_next * (h - s.n)}, 1), s.rz);
  const auto dgh = torch::cat({drz, dn_pre * r}, 1);
  return {torch::cat({drz, dn_pre}, 1), dgh, torch::addmm(dh_next * z, dgh, w_hh)};
}

// The gradient of the logits [B, groups * classes] from that of a straight-through sample of
// p = keep * softmax(logits) + floor (per group; sm: the softmax, keep: 1 - mix as a 0-dim tensor).
inline torch::Tensor mixed_softmax_backward(const torch::Tensor& dz, const torch::Tensor& sm,
                                            const torch::Tensor& keep) {
  const auto dsm = dz.view(sm.sizes()) * keep;
  return (sm * (dsm - (dsm * sm).sum(-1, /*keepdim=*/true))).view(dz.sizes());
}

}  // namespace simlab::learners::detail
