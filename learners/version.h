#pragma once
#include <string>
namespace simlab::learners {
// "1.13.1 (CPU; BLAS: OpenBLAS)" or with CUDA when the LibTorch build and the machine have it.
std::string torch_version();
}  // namespace simlab::learners
