#include "learners/options.h"

#include "engine/core/error.h"

namespace simlab::learners {
namespace {

Error bad(const std::string& field, const std::string& message) {
  return Error(SourceLocation{.field = field}, message);
}

}  // namespace

const char* algo_name(Algo algo) {
  return algo == Algo::kDreamer ? "dreamer" : "ppo";
}

const char* device_name(DeviceChoice device) {
  switch (device) {
    case DeviceChoice::kAuto:
      return "auto";
    case DeviceChoice::kCpu:
      return "cpu";
    case DeviceChoice::kCuda:
      return "cuda";
  }
  return "?";
}

Algo parse_algo(const std::string& word, const std::string& field) {
  if (word == "ppo") return Algo::kPpo;
  if (word == "dreamer") return Algo::kDreamer;
  throw bad(field, "'" + word + "': expected dreamer or ppo");
}

DeviceChoice parse_device(const std::string& word, const std::string& field) {
  if (word == "auto") return DeviceChoice::kAuto;
  if (word == "cpu") return DeviceChoice::kCpu;
  if (word == "cuda") return DeviceChoice::kCuda;
  throw bad(field, "'" + word + "': expected auto, cpu or cuda");
}

torch::Device resolve_device(DeviceChoice device) {
  switch (device) {
    case DeviceChoice::kCpu:
      return torch::kCPU;
    case DeviceChoice::kCuda:
      if (!torch::cuda::is_available())
        throw bad("device",
                  "cuda: this LibTorch has no CUDA or sees no GPU (Debian's libtorch is "
                  "CPU-only; build against an official CUDA LibTorch, see README)");
      return torch::kCUDA;
    case DeviceChoice::kAuto:
      break;
  }
  return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
}

}  // namespace simlab::learners
