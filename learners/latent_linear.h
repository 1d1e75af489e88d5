// A dense layer whose input holds the world model's one-hot latent z (internal to learners/).
//
// The latent is `groups` one-hot blocks of `classes` (16 x 16 = 256 of the 288 feature values
// every head reads), so its share of the product is a sum of `groups` rows of the weight: a gather
// (embedding bag) instead of a product with a mostly-zero matrix, 16 times fewer multiply-adds in
// the forward pass. The backward pass is the dense one: z's gradient passes straight through to
// the probabilities it was sampled from, and the weight's is one matrix product.
#pragma once

#include <torch/torch.h>

namespace simlab::learners::detail {

// z [N, Z] table [Z, out] for the one-hot z with column indices [N, groups]: a gather of `groups`
// rows per row on the CPU, the product on a GPU.
torch::Tensor latent_rows(const torch::Tensor& z, const torch::Tensor& index,
                          const torch::Tensor& table);

// y = [x, z] W^T (or [z, x] W^T with `latent_first`), for x [N, X], the one-hot z [N, Z] and its
// column indices [N, groups] (group g's class c at column g * classes + c), W [out, X + Z].
torch::Tensor latent_linear(const torch::Tensor& x, const torch::Tensor& z,
                            const torch::Tensor& index, const torch::Tensor& weight,
                            bool latent_first = false);

}  // namespace simlab::learners::detail
