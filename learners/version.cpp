#include "learners/version.h"

#include <torch/torch.h>
#include <torch/version.h>

namespace simlab::learners {
std::string torch_version() {
  std::string out = TORCH_VERSION;
  out += torch::cuda::is_available()
             ? " (CUDA, " + std::to_string(torch::cuda::device_count()) + " device(s))"
             : " (CPU)";
  return out;
}
}  // namespace simlab::learners
