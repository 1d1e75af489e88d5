// The learners' typed choices: an algorithm and a compute device. Front ends parse words into
// them once, at the edge; run folders record them as words (algo_name, device_name).
#pragma once

#include <string>

#include <torch/torch.h>

namespace simlab::learners {

enum class Algo { kPpo, kDreamer };
enum class DeviceChoice { kAuto, kCpu, kCuda };

const char* algo_name(Algo algo);              // "ppo", "dreamer"
const char* device_name(DeviceChoice device);  // "auto", "cpu", "cuda"
// A word as an enum; anything else is an Error naming `field`.
Algo parse_algo(const std::string& word, const std::string& field = "algo");
DeviceChoice parse_device(const std::string& word, const std::string& field = "device");

// kAuto: CUDA when LibTorch has it and sees a GPU, else the CPU; kCuda without CUDA is an Error
// naming the field `device`.
torch::Device resolve_device(DeviceChoice device);

}  // namespace simlab::learners
