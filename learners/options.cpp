#include "learners/options.h"

#include "engine/core/choice.h"
#include "engine/core/error.h"

namespace simlab::learners {
namespace {

const Choice<Algo> kAlgos[] = {{"ppo", Algo::kPpo}, {"dreamer", Algo::kDreamer}};
const Choice<DeviceChoice> kDevices[] = {
    {"auto", DeviceChoice::kAuto}, {"cpu", DeviceChoice::kCpu}, {"cuda", DeviceChoice::kCuda}};

Error bad(const std::string& field, const std::string& message) {
  return Error(SourceLocation{.field = field}, message);
}

template <class E, std::size_t N>
E parse(const Choice<E> (&table)[N], const std::string& word, const std::string& field) {
  if (const auto value = choice_value(table, word)) return *value;
  throw bad(field, "'" + word + "': expected " + choice_words(table));
}

}  // namespace

const char* algo_name(Algo algo) {
  return choice_name(kAlgos, algo);
}

const char* device_name(DeviceChoice device) {
  return choice_name(kDevices, device);
}

Algo parse_algo(const std::string& word, const std::string& field) {
  return parse(kAlgos, word, field);
}

DeviceChoice parse_device(const std::string& word, const std::string& field) {
  return parse(kDevices, word, field);
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
