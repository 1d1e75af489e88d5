// Optimizers shaped for a busy device: every parameter of a set of modules lives in one flat
// buffer and every gradient in another, so a gradient clip, an Adam step, an all-reduce and an EMA
// copy are each a handful of ops over one tensor, whatever the number of layers.
//
//   FlatParameters(params): values copied into one buffer, each parameter re-pointed at its slice;
//   each gradient made a view of the flat gradient buffer, so backward accumulates into it in place
//   FlatAdam::step(): global-norm clip -> Adam with its step count on the device (no host
//   synchronization, nothing computed on the host from device values: a CUDA graph can capture it)
//
// torch::optim::Adam keeps its step count on the host and loops over parameters: ~10 ops per
// parameter tensor per step (hundreds per update for the world model), and a host-side bias
// correction that a captured graph would freeze.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace simlab::learners {

class FlatParameters {
 public:
  // `parameters` must already be on their device and share one dtype. Without `grads` (a target
  // network that never learns) no gradient buffer is made.
  explicit FlatParameters(std::vector<torch::Tensor> parameters, bool grads = true);

  // Gather again: copies each parameter's current values (from any device) into the flat buffer
  // and re-points it (torch::nn::Module::load re-points parameters at the tensors it read).
  void rebind();

  const torch::Tensor& values() const { return values_; }  // [numel]
  const torch::Tensor& grads() const { return grads_; }    // [numel]
  const std::vector<torch::Tensor>& parameters() const { return params_; }

 private:
  std::vector<torch::Tensor> params_;
  torch::Tensor values_, grads_;
};

struct AdamOptions {
  double lr = 1e-4, eps = 1e-8, beta1 = 0.9, beta2 = 0.999;
  double clip = 0;  // global gradient-norm clip; 0: none
};

class FlatAdam {
 public:
  FlatAdam(FlatParameters& params, AdamOptions options);

  void zero_grad() { params_.grads().zero_(); }
  // Clip the gradient's global norm, then one Adam step, all queued on the parameters' device.
  // Returns the norm before clipping (a 0-dim tensor on the device).
  torch::Tensor step();

  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  void load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  FlatParameters& params_;
  AdamOptions options_;
  torch::Tensor m_, v_, t_;  // first and second moments [numel]; the step count (0-dim float)
};

}  // namespace simlab::learners
