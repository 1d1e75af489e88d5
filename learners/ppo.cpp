#include "learners/ppo.h"

#include <cmath>

#include "learners/distributed.h"

namespace simlab::learners {

ObsNormalizer::ObsNormalizer(int dim)
    : mean_(torch::zeros({dim}, torch::kFloat64)), var_(torch::ones({dim}, torch::kFloat64)) {}

void ObsNormalizer::update(const torch::Tensor& batch) {
  const auto x = batch.to(torch::kFloat64);
  if (x.size(0) == 0) return;
  update(static_cast<double>(x.size(0)), x.mean(0), x.var(0, /*unbiased=*/false));
}

void ObsNormalizer::update(double n, const torch::Tensor& batch_mean,
                           const torch::Tensor& batch_var) {
  if (n == 0) return;
  const auto delta = batch_mean - mean_;
  const double total = count_ + n;
  mean_ = mean_ + delta * (n / total);
  var_ = (var_ * count_ + batch_var * n + delta.square() * (count_ * n / total)) / total;
  count_ = total;
}

torch::Tensor ObsNormalizer::normalize(const torch::Tensor& obs) const {
  const auto m = mean_.to(obs.options()), s = (var_ + 1e-8).sqrt().to(obs.options());
  return ((obs - m) / s).clamp(-10, 10);
}

void ObsNormalizer::set(torch::Tensor mean, torch::Tensor var, double count) {
  mean_ = mean.to(torch::kFloat64).clone();  // never alias the caller's tensors
  var_ = var.to(torch::kFloat64).clone();
  count_ = count;
}

namespace {

// Orthogonal weights with gain `gain`, zero biases: PPO's usual initialization.
torch::nn::Linear layer(int in, int out, double gain) {
  torch::nn::Linear l(in, out);
  torch::NoGradGuard guard;
  torch::nn::init::orthogonal_(l->weight, gain);
  torch::nn::init::zeros_(l->bias);
  return l;
}

torch::nn::Sequential mlp(int in, int hidden, int out, double out_gain) {
  const double g = std::sqrt(2.0);
  return torch::nn::Sequential(layer(in, hidden, g), torch::nn::Tanh(), layer(hidden, hidden, g),
                               torch::nn::Tanh(), layer(hidden, out, out_gain));
}

torch::Tensor normal_log_prob(const torch::Tensor& x, const torch::Tensor& mean,
                              const torch::Tensor& log_std) {
  const auto z = (x - mean) / log_std.exp();
  return (-0.5 * z.square() - log_std - 0.5 * std::log(2 * M_PI)).sum(-1);
}

}  // namespace

ActorCriticImpl::ActorCriticImpl(int obs_dim, int act_dim, int hidden, double init_log_std) {
  pi = register_module("pi", mlp(obs_dim, hidden, act_dim, 0.01));
  v = register_module("v", mlp(obs_dim, hidden, 1, 1.0));
  log_std = register_parameter("log_std", torch::full({act_dim}, init_log_std));
}

Rollout::Rollout(int horizon, int envs, int obs_dim, int act_dim)
    : obs(torch::zeros({horizon, envs, obs_dim})),
      actions(torch::zeros({horizon, envs, act_dim})),
      log_probs(torch::zeros({horizon, envs})),
      values(torch::zeros({horizon + 1, envs})),
      rewards(torch::zeros({horizon, envs})),
      dones(torch::zeros({horizon, envs})) {}

torch::Tensor gae(const torch::Tensor& rewards, const torch::Tensor& values,
                  const torch::Tensor& dones, double gamma, double lambda) {
  const auto horizon = rewards.size(0);
  auto advantages = torch::zeros_like(rewards);
  auto running = torch::zeros_like(rewards[0]);
  for (auto t = horizon - 1; t >= 0; --t) {
    const auto live = 1.0 - dones[t];
    const auto delta = rewards[t] + gamma * values[t + 1] * live - values[t];
    running = delta + gamma * lambda * live * running;
    advantages[t] = running;
  }
  return advantages;
}

Ppo::Ppo(int obs_dim, int act_dim, PpoConfig config, torch::Device device)
    : config_(config),
      device_(device),
      model_(obs_dim, act_dim, config.hidden, config.init_log_std),
      optimizer_(model_->parameters(), torch::optim::AdamOptions(config.lr).eps(1e-5)) {
  model_->to(device_);
}

torch::Tensor Ppo::act(const torch::Tensor& obs, torch::Tensor* log_prob, torch::Tensor* value) {
  torch::NoGradGuard guard;
  const auto o = obs.to(device_);
  const auto mean = model_->mean(o);
  // Noise drawn on the CPU generator, so a seed gives the same actions on every device.
  const auto noise = torch::randn(mean.sizes()).to(device_);
  const auto action = mean + model_->log_std.exp() * noise;
  if (log_prob) *log_prob = normal_log_prob(action, mean, model_->log_std).cpu();
  if (value) *value = model_->value(o).cpu();
  return action.cpu();
}

torch::Tensor Ppo::act_mean(const torch::Tensor& obs) {
  torch::NoGradGuard guard;
  return model_->mean(obs.to(device_)).cpu();
}

torch::Tensor Ppo::value(const torch::Tensor& obs) {
  torch::NoGradGuard guard;
  return model_->value(obs.to(device_)).cpu();
}

PpoStats Ppo::update(const Rollout& r) {
  const auto horizon = r.rewards.size(0), envs = r.rewards.size(1);
  const auto advantages = gae(r.rewards, r.values, r.dones, config_.gamma, config_.lambda);
  const auto returns = advantages + r.values.slice(0, 0, horizon);
  // The batch moves to the device once.
  const auto n = horizon * envs;
  const auto obs = r.obs.reshape({n, -1}).to(device_);
  const auto actions = r.actions.reshape({n, -1}).to(device_);
  const auto old_log_probs = r.log_probs.reshape({n}).to(device_);
  const auto adv = advantages.reshape({n}).to(device_);
  const auto ret = returns.reshape({n}).to(device_);

  PpoStats stats;
  int count = 0;
  const auto minibatch = std::max<std::int64_t>(1, n / config_.minibatches);
  for (int epoch = 0; epoch < config_.epochs; ++epoch) {
    const auto order = torch::randperm(n).to(device_);
    for (std::int64_t start = 0; start + minibatch <= n; start += minibatch) {
      const auto idx = order.slice(0, start, start + minibatch);
      const auto o = obs.index_select(0, idx);
      auto a_adv = adv.index_select(0, idx);
      a_adv = (a_adv - a_adv.mean()) / (a_adv.std() + 1e-8);
      const auto mean = model_->mean(o);
      const auto log_prob = normal_log_prob(actions.index_select(0, idx), mean, model_->log_std);
      const auto log_ratio = log_prob - old_log_probs.index_select(0, idx);
      const auto ratio = log_ratio.exp();
      const auto surrogate =
          torch::min(ratio * a_adv, ratio.clamp(1 - config_.clip, 1 + config_.clip) * a_adv);
      const auto policy_loss = -surrogate.mean();
      const auto value_loss = 0.5 * (model_->value(o) - ret.index_select(0, idx)).square().mean();
      const auto entropy = (model_->log_std + 0.5 * std::log(2 * M_PI * M_E)).sum();
      const auto loss =
          policy_loss + config_.value_coef * value_loss - config_.entropy_coef * entropy;
      optimizer_.zero_grad();
      loss.backward();
      if (distributed_) distributed_->average_gradients(model_->parameters());
      // The actor and the critic are clipped apart: one global norm would let the value loss,
      // large early on, shrink the policy's step to nothing.
      auto actor = model_->pi->parameters();
      actor.push_back(model_->log_std);
      torch::nn::utils::clip_grad_norm_(actor, config_.max_grad_norm);
      torch::nn::utils::clip_grad_norm_(model_->v->parameters(), config_.max_grad_norm);
      optimizer_.step();
      {
        torch::NoGradGuard guard;
        stats.policy_loss += policy_loss.item<double>();
        stats.value_loss += value_loss.item<double>();
        stats.entropy += entropy.item<double>();
        stats.approx_kl += ((ratio - 1) - log_ratio).mean().item<double>();
        stats.clip_fraction +=
            ((ratio - 1).abs() > config_.clip).to(torch::kFloat32).mean().item<double>();
      }
      ++count;
    }
  }
  if (count > 0) {
    stats.policy_loss /= count, stats.value_loss /= count, stats.entropy /= count;
    stats.approx_kl /= count, stats.clip_fraction /= count;
  }
  const auto values = r.values.slice(0, 0, horizon).reshape({n});
  const auto var = returns.reshape({n}).var().item<double>();
  stats.explained_variance =
      var > 0 ? 1 - (returns.reshape({n}) - values).var().item<double>() / var : 0;
  return stats;
}

}  // namespace simlab::learners
