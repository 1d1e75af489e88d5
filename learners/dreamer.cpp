#include "learners/dreamer.h"

#include <chrono>
#include <cmath>

#include "engine/core/error.h"

namespace simlab::learners {
namespace F = torch::nn::functional;

torch::Tensor symlog(const torch::Tensor& x) {
  return torch::sign(x) * torch::log1p(x.abs());
}
torch::Tensor symexp(const torch::Tensor& x) {
  return torch::sign(x) * torch::expm1(x.abs());
}

namespace {

// Linear -> LayerNorm -> SiLU, `layers` times, then (out > 0) a linear output layer.
torch::nn::Sequential mlp(int in, int hidden, int layers, int out, bool zero_out = false) {
  torch::nn::Sequential net;
  for (int i = 0; i < layers; ++i) {
    net->push_back(
        torch::nn::Linear(torch::nn::LinearOptions(i ? hidden : in, hidden).bias(false)));
    net->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}).eps(1e-3)));
    net->push_back(torch::nn::SiLU());
  }
  if (out > 0) {
    torch::nn::Linear head(layers ? hidden : in, out);
    if (zero_out) {
      torch::NoGradGuard guard;
      head->weight.zero_();
      head->bias.zero_();
    }
    net->push_back(head);
  }
  return net;
}

// Conv (kernel 4, stride 2, padding 1: halves the size) -> GroupNorm -> SiLU, 64 -> 4 pixels.
constexpr int kImageChannels[4] = {16, 32, 64, 128};
constexpr int kImageFeatures = 128 * 4 * 4;

torch::nn::Sequential image_encoder_net() {
  torch::nn::Sequential net;
  int in = 3;
  for (int out : kImageChannels) {
    net->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 4).stride(2).padding(1).bias(false)));
    net->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(1, out).eps(1e-3)));
    net->push_back(torch::nn::SiLU());
    in = out;
  }
  net->push_back(torch::nn::Flatten());
  return net;
}

torch::nn::Sequential image_decoder_net(int feat) {
  torch::nn::Sequential net;
  net->push_back(torch::nn::Linear(feat, kImageFeatures));
  net->push_back(torch::nn::Unflatten(torch::nn::UnflattenOptions(1, {128, 4, 4})));
  for (int i = 3; i >= 0; --i) {
    const int in = kImageChannels[i], out = i ? kImageChannels[i - 1] : 3;
    net->push_back(torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).bias(i == 0)));
    if (i) {
      net->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(1, out).eps(1e-3)));
      net->push_back(torch::nn::SiLU());
    }
  }
  return net;
}

Error loss_error(const std::string& name, double value) {
  return Error(SourceLocation{.field = "training"},
               name + " became " + std::to_string(value) + " (not finite)");
}

// KL[p || q] summed over the classes, for log-probabilities [.., stoch, classes].
torch::Tensor kl(const torch::Tensor& log_p, const torch::Tensor& log_q) {
  return (log_p.exp() * (log_p - log_q)).sum(-1);
}

void copy_into(const std::vector<torch::Tensor>& to, const std::vector<torch::Tensor>& from,
               std::size_t& at) {
  torch::NoGradGuard guard;
  for (const auto& p : to)
    p.copy_(from.at(at++));
}

}  // namespace

WorldModelImpl::WorldModelImpl(int obs, int act, const DreamerConfig& c)
    : obs_dim(obs),
      act_dim(act),
      stoch(c.stoch),
      classes(c.classes),
      unimix(c.unimix),
      use_state(c.state_obs()),
      use_image(c.image_obs()) {
  if (!use_state && !use_image)
    throw Error(SourceLocation{.field = "dreamer.obs"},
                "'" + c.obs + "': expected state, rgb or state,rgb");
  const int z = c.stoch * c.classes, feat = c.deter + z;
  const int embed_dim = (use_state ? c.hidden : 0) + (use_image ? kImageFeatures : 0);
  if (use_state) encoder = register_module("encoder", mlp(obs, c.hidden, 2, 0));
  img_in = register_module("img_in", mlp(z + act, c.hidden, 1, 0));
  gru = register_module("gru", torch::nn::GRUCell(c.hidden, c.deter));
  prior = register_module("prior", mlp(c.deter, c.hidden, 1, z));
  post = register_module("post", mlp(c.deter + embed_dim, c.hidden, 1, z));
  if (use_state) decoder = register_module("decoder", mlp(feat, c.hidden, 2, obs));
  reward = register_module("reward", mlp(feat, c.hidden, 2, 1, /*zero_out=*/true));
  cont = register_module("cont", mlp(feat, c.hidden, 2, 1));
  if (use_image) {
    image_encoder = register_module("image_encoder", image_encoder_net());
    image_decoder = register_module("image_decoder", image_decoder_net(feat));
  }
}

torch::Tensor WorldModelImpl::embed(const torch::Tensor& obs, const torch::Tensor& image) {
  std::vector<torch::Tensor> parts;
  if (use_state) parts.push_back(encoder->forward(symlog(obs)));
  if (use_image) {
    if (!image.defined())
      throw Error(SourceLocation{.field = "dreamer.obs"}, "the model sees images and got none");
    const auto lead = image.sizes().slice(0, image.dim() - 3).vec();
    auto e = image_encoder->forward(image.reshape({-1, 3, image.size(-2), image.size(-1)}));
    auto shape = lead;
    shape.push_back(e.size(-1));
    parts.push_back(e.reshape(shape));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, -1);
}

torch::Tensor WorldModelImpl::decode_image(const torch::Tensor& feat) {
  const auto lead = feat.sizes().slice(0, feat.dim() - 1).vec();
  const auto out = image_decoder->forward(feat.reshape({-1, feat.size(-1)}));
  auto shape = lead;
  shape.insert(shape.end(), {3, out.size(-2), out.size(-1)});
  return out.reshape(shape);
}

Latent WorldModelImpl::initial(std::int64_t batch, torch::Device device) const {
  const auto options = torch::TensorOptions().device(device);
  return {torch::zeros({batch, gru->options.hidden_size()}, options),
          torch::zeros({batch, stoch * classes}, options)};
}

torch::Tensor WorldModelImpl::step_deter(const Latent& prev, const torch::Tensor& action,
                                         const torch::Tensor& first) {
  auto deter = prev.deter, z = prev.stoch, a = action;
  if (first.defined()) {
    const auto keep = (1 - first).unsqueeze(-1);
    deter = deter * keep, z = z * keep, a = a * keep;
  }
  return gru->forward(img_in->forward(torch::cat({z, a}, -1)), deter);
}

torch::Tensor WorldModelImpl::prior_logits(const torch::Tensor& deter) {
  return prior->forward(deter).unflatten(-1, {stoch, classes});
}

torch::Tensor WorldModelImpl::posterior_logits(const torch::Tensor& deter,
                                               const torch::Tensor& embed) {
  return post->forward(torch::cat({deter, embed}, -1)).unflatten(-1, {stoch, classes});
}

torch::Tensor WorldModelImpl::log_probs(const torch::Tensor& logits) const {
  const auto probs = (1 - unimix) * torch::softmax(logits, -1) + unimix / classes;
  return probs.log();
}

torch::Tensor WorldModelImpl::sample(const torch::Tensor& logits, at::Generator* generator,
                                     bool mode) {
  const auto log_p = log_probs(logits);
  torch::Tensor index;
  if (mode) {
    index = log_p.argmax(-1);
  } else {
    // Gumbel-max on the CPU generator (or the given one): the same samples on every device.
    const auto u = generator ? torch::rand(log_p.sizes(), *generator, torch::kFloat32)
                             : torch::rand(log_p.sizes(), torch::kFloat32);
    const auto gumbel = -torch::log(-torch::log(u.clamp(1e-20, 1 - 1e-7))).to(log_p.device());
    index = (log_p + gumbel).argmax(-1);
  }
  const auto one_hot = F::one_hot(index, classes).to(log_p.dtype());
  const auto probs = log_p.exp();
  return (one_hot + probs - probs.detach()).flatten(-2);
}

DreamerActorImpl::DreamerActorImpl(int feat_dim, int act, int hidden) : act_dim(act) {
  net = register_module("net", mlp(feat_dim, hidden, 2, 2 * act));
}

std::pair<torch::Tensor, torch::Tensor> DreamerActorImpl::forward(const torch::Tensor& feat) {
  const auto out = net->forward(feat);
  const auto mean = 5 * torch::tanh(out.slice(-1, 0, act_dim) / 5);
  const auto std = 0.9 * torch::sigmoid(out.slice(-1, act_dim) + 2) + 0.1;
  return {mean, std};
}

Dreamer::Dreamer(int obs_dim, int act_dim, DreamerConfig config, torch::Device device)
    : config_(config),
      device_(device),
      model_(obs_dim, act_dim, config),
      actor_(config.deter + config.stoch * config.classes, act_dim, config.hidden),
      critic_(mlp(config.deter + config.stoch * config.classes, config.hidden, 2, 1, true)),
      slow_critic_(mlp(config.deter + config.stoch * config.classes, config.hidden, 2, 1, true)),
      model_opt_(model_->parameters(), torch::optim::AdamOptions(config.model_lr).eps(1e-8)),
      actor_opt_(actor_->parameters(), torch::optim::AdamOptions(config.actor_lr).eps(1e-5)),
      critic_opt_(critic_->parameters(), torch::optim::AdamOptions(config.critic_lr).eps(1e-5)) {
  model_->to(device_);
  actor_->to(device_);
  critic_->to(device_);
  slow_critic_->to(device_);
  torch::NoGradGuard guard;
  const auto src = critic_->parameters();
  std::size_t at = 0;
  copy_into(slow_critic_->parameters(), src, at);
  for (auto& p : slow_critic_->parameters())
    p.requires_grad_(false);
}

DreamerStats Dreamer::train(const SequenceBatch& host_batch) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const SequenceBatch b = host_batch.to(device_);
  const auto batch = b.obs.size(0), length = b.obs.size(1);
  DreamerStats stats;

  // World model: filter the posterior along each sequence.
  const auto embed = model_->embed(b.obs, b.image);
  Latent state = model_->initial(batch, device_);
  std::vector<torch::Tensor> deters, stochs, prior_logits, post_logits;
  for (std::int64_t t = 0; t < length; ++t) {
    const auto first = b.first.select(1, t);
    state.deter = model_->step_deter(state, b.action.select(1, t), first);
    prior_logits.push_back(model_->prior_logits(state.deter));
    post_logits.push_back(model_->posterior_logits(state.deter, embed.select(1, t)));
    state.stoch = model_->sample(post_logits.back());
    deters.push_back(state.deter);
    stochs.push_back(state.stoch);
  }
  const Latent seq{torch::stack(deters, 1), torch::stack(stochs, 1)};  // [B, L, ..]
  const auto feat = seq.feat();
  auto decoder_loss = torch::zeros({}, feat.options());
  if (model_->use_state)
    decoder_loss = (model_->decoder->forward(feat) - symlog(b.obs)).square().sum(-1).mean();
  torch::Tensor image_loss;
  if (model_->use_image) {
    image_loss = (model_->decode_image(feat) - b.image).square().sum({-3, -2, -1}).mean();
    decoder_loss = decoder_loss + image_loss;
  }
  const auto reward_loss =
      (model_->reward->forward(feat).squeeze(-1) - symlog(b.reward)).square().mean();
  const auto cont_loss =
      F::binary_cross_entropy_with_logits(model_->cont->forward(feat).squeeze(-1), 1 - b.terminal);
  const auto log_prior = model_->log_probs(torch::stack(prior_logits, 1));
  const auto log_post = model_->log_probs(torch::stack(post_logits, 1));
  const auto dyn = kl(log_post.detach(), log_prior).sum(-1);  // [B, L]
  const auto rep = kl(log_post, log_prior.detach()).sum(-1);
  const auto kl_loss = config_.kl_dyn * dyn.clamp_min(config_.free_bits).mean() +
                       config_.kl_rep * rep.clamp_min(config_.free_bits).mean();
  const auto model_loss = decoder_loss + reward_loss + cont_loss + kl_loss;
  model_opt_.zero_grad();
  model_loss.backward();
  torch::nn::utils::clip_grad_norm_(model_->parameters(), config_.model_clip);
  stats.model_loss = model_loss.item<double>();
  if (!std::isfinite(stats.model_loss)) throw loss_error("model_loss", stats.model_loss);
  model_opt_.step();
  stats.decoder_loss = decoder_loss.item<double>();
  if (image_loss.defined()) stats.image_loss = image_loss.item<double>();
  stats.reward_loss = reward_loss.item<double>();
  stats.cont_loss = cont_loss.item<double>();
  stats.kl = dyn.mean().item<double>();
  const auto t1 = Clock::now();
  stats.model_s = std::chrono::duration<double>(t1 - t0).count();

  // Imagination from a random subset of the posterior states; the world model is frozen.
  const auto n = batch * length;
  const auto starts = std::min<std::int64_t>(n, config_.imag_starts);
  const auto pick = torch::randperm(n).slice(0, 0, starts).to(device_);
  Latent s{seq.deter.detach().reshape({n, -1}).index_select(0, pick),
           seq.stoch.detach().reshape({n, -1}).index_select(0, pick)};
  const auto start_cont = (1 - b.terminal).reshape({n}).index_select(0, pick);
  for (auto& p : model_->parameters())
    p.requires_grad_(false);
  std::vector<torch::Tensor> feats{s.feat()}, entropies;
  for (int k = 0; k < config_.horizon; ++k) {
    const auto [mean, std] = actor_->forward(feats.back().detach());
    const auto noise = torch::randn(mean.sizes()).to(device_);
    const auto action = torch::tanh(mean + std * noise);
    entropies.push_back(torch::log(std).sum(-1));
    s.deter = model_->step_deter(s, action);
    s.stoch = model_->sample(model_->prior_logits(s.deter));
    feats.push_back(s.feat());
  }
  const auto f = torch::stack(feats, 0);  // [H + 1, S, feat]
  const auto reward = symexp(model_->reward->forward(f).squeeze(-1));
  auto cont = torch::sigmoid(model_->cont->forward(f).squeeze(-1));
  cont = torch::cat({start_cont.unsqueeze(0), cont.slice(0, 1)}, 0);
  const auto value = symexp(slow_critic_->forward(f).squeeze(-1));
  for (auto& p : model_->parameters())
    p.requires_grad_(true);

  // Lambda-returns R_k = r_{k+1} + gamma c_{k+1} ((1 - lambda) v_{k+1} + lambda R_{k+1}).
  const int horizon = config_.horizon;
  std::vector<torch::Tensor> returns(static_cast<std::size_t>(horizon));
  auto next = value[horizon];
  for (int k = horizon - 1; k >= 0; --k) {
    next = reward[k + 1] + config_.gamma * cont[k + 1] *
                               ((1 - config_.lambda) * value[k + 1] + config_.lambda * next);
    returns[k] = next;
  }
  const auto ret = torch::stack(returns, 0);  // [H, S]
  const auto weight = torch::cumprod(torch::cat({torch::ones_like(cont[0]).unsqueeze(0),
                                                 (config_.gamma * cont.slice(0, 1, horizon))},
                                                0),
                                     0)
                          .detach();
  {
    torch::NoGradGuard guard;
    const auto flat = ret.flatten();
    const double range = (torch::quantile(flat, 0.95) - torch::quantile(flat, 0.05)).item<double>();
    return_scale_ = return_scale_ == 0 ? range : 0.99 * return_scale_ + 0.01 * range;
  }
  const double scale = std::max(1.0, return_scale_);
  const auto entropy = torch::stack(entropies, 0);
  const auto actor_loss = -(weight * (ret / scale + config_.entropy * entropy)).mean();
  actor_opt_.zero_grad();
  actor_loss.backward();
  torch::nn::utils::clip_grad_norm_(actor_->parameters(), config_.ac_clip);
  stats.actor_loss = actor_loss.item<double>();
  if (!std::isfinite(stats.actor_loss)) throw loss_error("actor_loss", stats.actor_loss);
  actor_opt_.step();

  const auto f_sg = f.slice(0, 0, horizon).detach();
  const auto predicted = critic_->forward(f_sg).squeeze(-1);
  const auto target = symlog(ret.detach());
  const auto slow = slow_critic_->forward(f_sg).squeeze(-1).detach();
  const auto critic_loss =
      (weight * ((predicted - target).square() + (predicted - slow).square())).mean();
  critic_opt_.zero_grad();
  critic_loss.backward();
  torch::nn::utils::clip_grad_norm_(critic_->parameters(), config_.ac_clip);
  stats.critic_loss = critic_loss.item<double>();
  if (!std::isfinite(stats.critic_loss)) throw loss_error("critic_loss", stats.critic_loss);
  critic_opt_.step();
  {
    torch::NoGradGuard guard;
    const auto fast = critic_->parameters();
    auto slow_params = slow_critic_->parameters();
    for (std::size_t i = 0; i < fast.size(); ++i)
      slow_params[i].mul_(1 - config_.slow_critic).add_(fast[i], config_.slow_critic);
  }
  stats.entropy = entropy.mean().item<double>();
  stats.imag_return = ret.mean().item<double>();
  stats.return_scale = scale;
  stats.behaviour_s = std::chrono::duration<double>(Clock::now() - t1).count();
  return stats;
}

OpenLoop Dreamer::open_loop(const SequenceBatch& host_batch, int context) {
  torch::NoGradGuard guard;
  const SequenceBatch b = host_batch.to(device_);
  const auto batch = b.obs.size(0), length = b.obs.size(1);
  const auto embed = model_->embed(b.obs, b.image);
  Latent s = model_->initial(batch, device_);
  std::vector<torch::Tensor> predicted, predicted_image;
  for (std::int64_t t = 0; t < length; ++t) {
    s.deter = model_->step_deter(s, b.action.select(1, t), b.first.select(1, t));
    // Samples, as in training: the mode of a broad latent is a state the model never saw.
    s.stoch = model_->sample(t < context ? model_->posterior_logits(s.deter, embed.select(1, t))
                                         : model_->prior_logits(s.deter));
    if (t < context) continue;
    if (model_->use_state) predicted.push_back(symexp(model_->decoder->forward(s.feat())));
    if (model_->use_image) predicted_image.push_back(model_->decode_image(s.feat()));
  }
  OpenLoop out;
  out.real = b.obs.slice(1, context).cpu();
  if (model_->use_state) out.predicted = torch::stack(predicted, 1).cpu();
  if (model_->use_image) {
    out.predicted_image = torch::stack(predicted_image, 1).cpu();
    out.real_image = b.image.slice(1, context).cpu();
  }
  // A prediction is judged until the sequence crosses into another episode.
  out.valid = (1 - b.first.slice(1, context).cpu()).cumprod(1);
  // Squared error over the observations' total variance (a ratio of sums over dimensions, so a
  // constant dimension such as a planar robot's out-of-plane coordinate cannot blow it up).
  const auto pred = model_->use_state ? out.predicted : out.predicted_image.flatten(2);
  const auto real = model_->use_state ? out.real : out.real_image.flatten(2);
  const auto var = real.reshape({-1, real.size(-1)}).var(0).mean().clamp_min(1e-8);
  const auto err = (pred - real).square().mean(-1) / var;  // [B, H]
  out.nmse = (err * out.valid).sum(0) / out.valid.sum(0).clamp_min(1);
  return out;
}

std::vector<torch::Tensor> Dreamer::policy_weights() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : model_->parameters())
    out.push_back(p.detach().to(torch::kCPU).clone());
  for (const auto& p : actor_->parameters())
    out.push_back(p.detach().to(torch::kCPU).clone());
  return out;
}

void Dreamer::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive model, actor, critic, slow, mo, ao, co;
  model_->save(model);
  actor_->save(actor);
  critic_->save(critic);
  slow_critic_->save(slow);
  model_opt_.save(mo);
  actor_opt_.save(ao);
  critic_opt_.save(co);
  archive.write("world_model", model);
  archive.write("actor", actor);
  archive.write("critic", critic);
  archive.write("slow_critic", slow);
  archive.write("model_optimizer", mo);
  archive.write("actor_optimizer", ao);
  archive.write("critic_optimizer", co);
  archive.write("return_scale", torch::tensor(return_scale_, torch::kFloat64));
}

void Dreamer::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive model, actor, critic, slow, mo, ao, co;
  archive.read("world_model", model);
  archive.read("actor", actor);
  archive.read("critic", critic);
  archive.read("slow_critic", slow);
  archive.read("model_optimizer", mo);
  archive.read("actor_optimizer", ao);
  archive.read("critic_optimizer", co);
  model_->load(model);
  actor_->load(actor);
  critic_->load(critic);
  slow_critic_->load(slow);
  model_opt_.load(mo);
  actor_opt_.load(ao);
  critic_opt_.load(co);
  torch::Tensor scale;
  archive.read("return_scale", scale);
  return_scale_ = scale.item<double>();
}

DreamerPolicy::DreamerPolicy(int obs_dim, int act_dim, const DreamerConfig& config,
                             torch::Tensor low, torch::Tensor high)
    : config_(config),
      model_(obs_dim, act_dim, config),
      actor_(config.deter + config.stoch * config.classes, act_dim, config.hidden),
      low_(std::move(low)),
      high_(std::move(high)) {
  model_->eval();
  actor_->eval();
}

void DreamerPolicy::start(std::int64_t steps_before, int envs) {
  steps_ = steps_before;
  envs_ = envs;
  state_ = model_->initial(envs, torch::kCPU);
  prev_action_ = torch::zeros({envs, actor_->act_dim});
}

void DreamerPolicy::load(const std::vector<torch::Tensor>& weights) {
  std::size_t at = 0;
  copy_into(model_->parameters(), weights, at);
  copy_into(actor_->parameters(), weights, at);
}

torch::Tensor DreamerPolicy::normalize(const torch::Tensor& action) const {
  return (2 * (action - low_) / (high_ - low_) - 1).clamp(-1, 1);
}

torch::Tensor DreamerPolicy::act(const torch::Tensor& obs, const torch::Tensor& image,
                                 const torch::Tensor& first, at::Generator& generator) {
  torch::NoGradGuard guard;
  const auto n = obs.size(0);
  torch::Tensor action;
  // The posterior is filtered during the prefill too, so its state is right when the actor starts.
  state_.deter = model_->step_deter(state_, prev_action_, first);
  state_.stoch = model_->sample(
      model_->posterior_logits(state_.deter,
                               model_->embed(obs, image.defined() ? image_to_float(image) : image)),
      &generator);
  if (steps_ < config_.prefill) {
    action = torch::rand({n, actor_->act_dim}, generator, torch::kFloat32) * 2 - 1;
  } else {
    const auto [mean, std] = actor_->forward(state_.feat());
    action = torch::tanh(mean + std * torch::randn(mean.sizes(), generator, torch::kFloat32));
  }
  steps_ += n;
  prev_action_ = action;
  return low_ + (action + 1) * 0.5 * (high_ - low_);
}

}  // namespace simlab::learners
