#include "learners/distributed.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#if SIMLAB_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "engine/core/error.h"

namespace simlab::learners {
namespace {

int int_var(const std::function<const char*(const char*)>& getenv, const char* name, int fallback) {
  const char* text = getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < 0 || v > 1 << 30)
    throw Error(SourceLocation{.field = name},
                std::string("'") + text + "' is not a non-negative integer");
  return static_cast<int>(v);
}

}  // namespace

DistributedConfig distributed_from_env(const std::function<const char*(const char*)>& getenv) {
  DistributedConfig c;
  c.world_size = int_var(getenv, "WORLD_SIZE", 1);
  if (c.world_size < 1) throw Error(SourceLocation{.field = "WORLD_SIZE"}, "must be >= 1");
  c.rank = int_var(getenv, "RANK", 0);
  c.local_rank = int_var(getenv, "LOCAL_RANK", 0);
  if (c.rank >= c.world_size)
    throw Error(
        SourceLocation{.field = "RANK"},
        std::to_string(c.rank) + " is not below WORLD_SIZE " + std::to_string(c.world_size));
  if (const char* addr = getenv("MASTER_ADDR"); addr && *addr) c.master_addr = addr;
  c.master_port = int_var(getenv, "MASTER_PORT", c.master_port);
  if (c.master_port < 1 || c.master_port > 65535)
    throw Error(SourceLocation{.field = "MASTER_PORT"}, "must be a port, 1 to 65535");
  return c;
}

// What the collectives are called on: in LibTorch 2.x a process group dispatches to backends, and
// Gloo and NCCL are c10d::Backend; in 1.13 they were process groups themselves.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> group;
  bool nccl = false;
  torch::Device device = torch::kCPU;
};

Distributed::Distributed(const DistributedConfig& config, torch::Device device)
    : config_(config), impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  const std::string where = config.master_addr + ":" + std::to_string(config.master_port);
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(config.master_port);
    opts.isServer = config.rank == 0;
    opts.numWorkers = config.world_size;
    opts.timeout = std::chrono::seconds(120);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, opts);
#if SIMLAB_HAS_NCCL
    if (device.is_cuda()) {
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          impl_->store, config.rank, config.world_size, c10d::ProcessGroupNCCL::Options::create());
      impl_->nccl = true;
      return;
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(120));
    // Loopback when every rank is on this machine; else the address this host resolves to.
    const bool local = config.master_addr == "127.0.0.1" || config.master_addr == "localhost";
    options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, config.rank,
                                                               config.world_size, options);
  } catch (const c10::Error& e) {
    throw Error(SourceLocation{.field = "MASTER_ADDR"},
                "rank " + std::to_string(config.rank) + " of " + std::to_string(config.world_size) +
                    " cannot join the group at " + where + ": " + e.what_without_backtrace());
  }
}

Distributed::~Distributed() = default;

void Distributed::broadcast(std::vector<torch::Tensor> tensors) {
  for (auto& t : tensors) {
    if (impl_->nccl && !t.is_cuda()) {
      auto on_device = t.to(impl_->device);
      broadcast({on_device});
      t.copy_(on_device);
      continue;
    }
    std::vector<torch::Tensor> one = {t};
    impl_->group->broadcast(one)->wait();
  }
}

void Distributed::all_reduce_sum(torch::Tensor& tensor) {
  if (impl_->nccl && !tensor.is_cuda()) {
    auto on_device = tensor.to(impl_->device);
    all_reduce_sum(on_device);
    tensor.copy_(on_device);
    return;
  }
  std::vector<torch::Tensor> one = {tensor};
  impl_->group->allreduce(one)->wait();
}

void Distributed::average(const torch::Tensor& tensor) {
  auto t = tensor;
  all_reduce_sum(t);
  t.div_(config_.world_size);
}

const char* Distributed::backend() const {
  return impl_->nccl ? "nccl" : "gloo";
}

void Distributed::average_gradients(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad().reshape({-1}));
  if (grads.empty()) return;
  auto flat = torch::cat(grads);
  all_reduce_sum(flat);
  flat.div_(config_.world_size);
  std::int64_t offset = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    const auto n = p.grad().numel();
    p.grad().copy_(flat.slice(0, offset, offset + n).view_as(p.grad()));
    offset += n;
  }
}

std::string parameter_fingerprint(const std::vector<torch::Tensor>& parameters) {
  std::uint64_t h = 1469598103934665603ull;
  for (const auto& p : parameters) {
    const auto c = p.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    const auto* bytes = static_cast<const std::uint8_t*>(c.data_ptr());
    for (std::size_t i = 0; i < static_cast<std::size_t>(c.numel()) * 4; ++i)
      h = (h ^ bytes[i]) * 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace simlab::learners
