// Batch buffers and spans as LibTorch tensors, without copying: the one place where engine memory
// becomes a tensor. A view is valid while the memory is (a Batch row: until the next step); clone
// it to keep it.
#pragma once

#include <cstdint>
#include <span>

#include <torch/torch.h>

#include "engine/core/buffer.h"

namespace simlab::learners {

// The first `rows` rows of a batch field ([rows, cols]; rows < 0: all of them).
inline torch::Tensor view(const engine::Buffer2D<float>& field, std::int64_t rows = -1) {
  return torch::from_blob(const_cast<float*>(field.data()),
                          {rows < 0 ? field.rows() : rows, field.cols()}, torch::kFloat32);
}
inline torch::Tensor view(const engine::Buffer2D<std::uint8_t>& field, std::int64_t rows = -1) {
  return torch::from_blob(const_cast<std::uint8_t*>(field.data()),
                          {rows < 0 ? field.rows() : rows, field.cols()}, torch::kUInt8);
}
// `data` as [rows, data.size() / rows] float32.
inline torch::Tensor as_tensor(std::span<const float> data, std::int64_t rows = 1) {
  return torch::from_blob(const_cast<float*>(data.data()),
                          {rows, static_cast<std::int64_t>(data.size()) / rows}, torch::kFloat32);
}

}  // namespace simlab::learners
