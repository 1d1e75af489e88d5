// Multi-process data-parallel training over PyTorch's own distributed engine (c10d), configured
// the way torchrun configures a process: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
//
//   rank 0 hosts a TCPStore at MASTER_ADDR:MASTER_PORT; every rank joins a process group over it:
//   NCCL when the tensors live on a CUDA device and LibTorch was built with NCCL, else Gloo
//   start: parameters broadcast from rank 0 -> every update: gradients averaged (one flat
//   all-reduce), rollout statistics summed -> every rank steps the same optimizer on the same
//   numbers, so parameters stay identical
//
// Each rank simulates its own envs (seeded by rank) and contributes its rollout; rank 0 writes the
// run folder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace simlab::learners {

struct DistributedConfig {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool enabled() const { return world_size > 1; }
};

// From torchrun's variables (a single process when WORLD_SIZE is unset or 1); throws simlab::Error
// naming the variable when one is malformed or inconsistent. `getenv` is for tests.
DistributedConfig distributed_from_env(const std::function<const char*(const char*)>& getenv =
                                           [](const char* k) { return std::getenv(k); });

class Distributed {
 public:
  // Joins the group (blocks until every rank is there, or times out with an Error). `device`:
  // where the tensors handed to the collectives live (NCCL for CUDA where LibTorch has it).
  explicit Distributed(const DistributedConfig& config, torch::Device device = torch::kCPU);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return config_.rank; }
  int world_size() const { return config_.world_size; }
  // Rank 0's values into every rank's tensors (in place).
  void broadcast(std::vector<torch::Tensor> tensors);
  // The sum over ranks, in place (a CPU tensor goes through the device when the group is NCCL).
  void all_reduce_sum(torch::Tensor& tensor);
  // The mean over ranks, in place.
  void average(const torch::Tensor& tensor);
  // "nccl" or "gloo".
  const char* backend() const;
  // The mean over ranks of every parameter's gradient (one flattened all-reduce).
  void average_gradients(const std::vector<torch::Tensor>& parameters);

 private:
  struct Impl;
  DistributedConfig config_;
  std::unique_ptr<Impl> impl_;
};

// A fingerprint of parameter values (FNV-1a over their float bytes): equal on every rank when
// data-parallel training keeps them identical.
std::string parameter_fingerprint(const std::vector<torch::Tensor>& parameters);

}  // namespace simlab::learners
