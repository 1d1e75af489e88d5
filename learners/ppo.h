// PPO (Schulman et al. 2017) for massively parallel envs: the baseline most sim-to-real locomotion
// work trains with.
//
//   VectorEnv.step (N envs) --obs--> normalizer --> actor (Gaussian) --actions--> ... T steps
//   rollout [T, N] --> GAE(gamma, lambda) advantages, time-limit truncations bootstrapped from
//   V(final_obs) --> E epochs x M minibatches of the clipped surrogate + value loss - entropy bonus
//   (Adam, gradient-norm clipping)
//
// Everything the update touches lives on `device`; the rollout moves there once per update.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace simlab::learners {

struct PpoConfig {
  int horizon = 64;     // env steps per env per update
  int epochs = 4;       // passes over each rollout
  int minibatches = 4;  // per epoch
  double lr = 3e-4;
  double gamma = 0.99;
  double lambda = 0.95;  // GAE
  double clip = 0.2;     // surrogate clip range
  double value_coef = 0.5;
  double entropy_coef = 0.0;
  double max_grad_norm = 0.5;
  int hidden = 64;  // units in each of the two hidden layers
  double init_log_std = -0.5;
  bool scale_rewards = true;  // divide rewards by the running std of the discounted return
};

// Running mean and variance of observations (Chan et al.'s parallel update), in double.
class ObsNormalizer {
 public:
  explicit ObsNormalizer(int dim = 0);
  void update(const torch::Tensor& batch);  // [B, dim]
  // The same from a batch's count, mean and (biased) variance, e.g. summed over ranks.
  void update(double count, const torch::Tensor& mean, const torch::Tensor& var);
  torch::Tensor normalize(const torch::Tensor& obs) const;  // (obs - mean) / std, clipped to +-10
  torch::Tensor mean() const { return mean_; }
  torch::Tensor var() const { return var_; }
  double count() const { return count_; }
  void set(torch::Tensor mean, torch::Tensor var, double count);

 private:
  torch::Tensor mean_, var_;
  double count_ = 1e-4;
};

// Separate two-layer tanh MLPs for the Gaussian policy's mean and the value, plus a
// state-independent log standard deviation.
struct ActorCriticImpl : torch::nn::Module {
  ActorCriticImpl(int obs_dim, int act_dim, int hidden, double init_log_std);
  torch::Tensor mean(const torch::Tensor& obs) { return pi->forward(obs); }
  torch::Tensor value(const torch::Tensor& obs) { return v->forward(obs).squeeze(-1); }
  torch::nn::Sequential pi{nullptr}, v{nullptr};
  torch::Tensor log_std;
};
TORCH_MODULE(ActorCritic);

// One rollout of N envs over T steps (raw tensors on the CPU, filled step by step).
struct Rollout {
  Rollout(int horizon, int envs, int obs_dim, int act_dim);
  torch::Tensor obs;        // [T, N, obs] normalized, as the policy saw them
  torch::Tensor actions;    // [T, N, act] sampled (before clipping to the action bounds)
  torch::Tensor log_probs;  // [T, N]
  torch::Tensor values;     // [T + 1, N] (the last row: the value after the final step)
  torch::Tensor rewards;    // [T, N] (truncations: plus gamma * V(final obs))
  torch::Tensor dones;      // [T, N] 1 where the episode ended after this step
};

struct PpoStats {
  double policy_loss = 0, value_loss = 0, entropy = 0, approx_kl = 0, clip_fraction = 0;
  double explained_variance = 0;
};

class Distributed;

class Ppo {
 public:
  Ppo(int obs_dim, int act_dim, PpoConfig config, torch::Device device);

  // Sample actions for normalized observations [N, obs] (on the CPU); fills log-probs and values.
  torch::Tensor act(const torch::Tensor& obs, torch::Tensor* log_prob, torch::Tensor* value);
  // The deterministic action (the mean), for evaluation and export.
  torch::Tensor act_mean(const torch::Tensor& obs);
  torch::Tensor value(const torch::Tensor& obs);
  // GAE advantages and returns for `rollout`, then the clipped-objective update.
  PpoStats update(const Rollout& rollout);
  // Data-parallel: average gradients over the group's ranks before every optimizer step.
  void set_distributed(Distributed* group) { distributed_ = group; }

  ActorCritic& model() { return model_; }
  torch::optim::Adam& optimizer() { return optimizer_; }
  const PpoConfig& config() const { return config_; }
  torch::Device device() const { return device_; }

 private:
  PpoConfig config_;
  torch::Device device_;
  ActorCritic model_;
  torch::optim::Adam optimizer_;
  Distributed* distributed_ = nullptr;
};

// Advantages [T, N] by GAE(gamma, lambda) from rewards, values [T + 1, N] and dones.
torch::Tensor gae(const torch::Tensor& rewards, const torch::Tensor& values,
                  const torch::Tensor& dones, double gamma, double lambda);

}  // namespace simlab::learners
