#include "learners/dreamer.h"

#include <cmath>
#include <mutex>
#include <optional>

#include "engine/core/error.h"
#include "learners/cuda_graph.h"
#include "learners/distributed.h"
#include "learners/imagine_scan.h"
#include "learners/latent_linear.h"
#include "learners/optim.h"
#include "learners/rssm_scan.h"
#include "learners/run_folder.h"

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

// The straight-through one-hot sample of categorical probabilities [.., groups, classes], by
// inverting each group's CDF at a uniform number u [.., groups] (one random number per group,
// where Gumbel-max takes one per class and two logarithms); backward, the gradient passes to the
// probabilities unchanged. One autograd node where one_hot + probs - sg(probs) records four.
struct StraightThrough : torch::autograd::Function<StraightThrough> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& probs,
                                                const torch::Tensor& u) {
    auto sample = detail::categorical_sample(probs, u);
    ctx->mark_non_differentiable({sample.index});
    return {sample.one_hot, sample.index};
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grad) {
    return {grad[0], torch::Tensor()};
  }
};

// The q-quantile of sorted values [n] (linear interpolation between order statistics, as
// torch::quantile), indexed with host constants: nothing is read back from the device.
torch::Tensor percentile(const torch::Tensor& sorted, double q) {
  const auto n = sorted.size(0);
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<std::int64_t>(std::floor(pos));
  const auto hi = std::min<std::int64_t>(lo + 1, n - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

// The figures an update leaves on the device, in the order stats() checks them.
enum Stat {
  kModelLoss,
  kDecoderLoss,
  kImageLoss,
  kRewardLoss,
  kContLoss,
  kKl,
  kActorLoss,
  kCriticLoss,
  kEntropy,
  kImagReturn,
  kReturnScale,
  kModelNorm,
  kActorNorm,
  kCriticNorm,
  kStats
};
constexpr const char* kStatNames[kStats] = {
    "model_loss",   "decoder_loss",    "image_loss",      "reward_loss",     "cont_loss",
    "kl",           "actor_loss",      "critic_loss",     "entropy",         "imag_return",
    "return_scale", "model_grad_norm", "actor_grad_norm", "critic_grad_norm"};

// Copy a flat CPU tensor into parameters, in order.
void copy_flat(const std::vector<torch::Tensor>& params, const torch::Tensor& flat) {
  torch::NoGradGuard guard;
  std::int64_t at = 0;
  for (auto p : params) {
    const auto n = p.numel();
    SIMLAB_CHECK(at + n <= flat.numel()) << "the weights are smaller than the model";
    p.copy_(flat.slice(0, at, at + n).view(p.sizes()));
    at += n;
  }
  SIMLAB_CHECK(at == flat.numel()) << "the weights are larger than the model";
}

torch::Tensor mixed_probs(const torch::Tensor& logits, double unimix, int classes) {
  return torch::softmax(logits, -1).mul(1 - unimix).add(unimix / classes);
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

WorldModelImpl::Observed WorldModelImpl::observe(const torch::Tensor& embed,
                                                 const torch::Tensor& action,
                                                 const torch::Tensor& first,
                                                 const torch::Tensor& noise) {
  const auto z_dim = static_cast<std::int64_t>(stoch) * classes;
  const auto d = gru->options.hidden_size();
  // The input layers split by what they read: the recurrent part goes into the scan, the rest is
  // one matrix product over every step.
  const auto& w_img = img_in->ptr<torch::nn::LinearImpl>(0)->weight;  // [hidden, z + act]
  const auto& w_post = post->ptr<torch::nn::LinearImpl>(0)->weight;   // [hidden, deter + embed]
  auto img_norm = img_in->ptr<torch::nn::LayerNormImpl>(1);
  auto post_norm = post->ptr<torch::nn::LayerNormImpl>(1);
  auto post_out = post->ptr<torch::nn::LinearImpl>(3);
  const auto keep = (1 - first).unsqueeze(-1);  // [B, L, 1]
  // [B, L, ..] -> [L, B, ..], one step per row block.
  const auto by_step = [](const torch::Tensor& x) { return x.transpose(0, 1).contiguous(); };
  const detail::RssmScanWeights w{.z_in = w_img.slice(1, 0, z_dim).t(),
                                  .in_norm_w = img_norm->weight,
                                  .in_norm_b = img_norm->bias,
                                  .w_ih = gru->weight_ih,
                                  .w_hh = gru->weight_hh,
                                  .b_ih = gru->bias_ih,
                                  .b_hh = gru->bias_hh,
                                  .h_in = w_post.slice(1, 0, d).t(),
                                  .post_norm_w = post_norm->weight,
                                  .post_norm_b = post_norm->bias,
                                  .out_w = post_out->weight,
                                  .out_b = post_out->bias};
  const auto out =
      detail::rssm_scan(by_step(F::linear(action * keep, w_img.slice(1, z_dim))),
                        by_step(F::linear(embed, w_post.slice(1, d))), by_step(keep),
                        by_step(noise), w, stoch, classes, unimix, img_norm->options.eps());
  const auto batch_first = [](const torch::Tensor& x) { return x.transpose(0, 1); };
  return {batch_first(out.deter), batch_first(out.stoch),
          batch_first(out.logits).unflatten(-1, {stoch, classes}), batch_first(out.index)};
}

std::pair<torch::Tensor, torch::Tensor> WorldModelImpl::sample_st(const torch::Tensor& logits,
                                                                  const torch::Tensor& u) {
  const auto out = StraightThrough::apply(mixed_probs(logits, unimix, classes), u);
  return {out[0].flatten(-2), out[1]};
}

WorldModelImpl::Rollout WorldModelImpl::rollout(DreamerActorImpl& actor, const Latent& start,
                                                const torch::Tensor& action_noise,
                                                const torch::Tensor& latent_u) {
  auto linear = [](const torch::nn::Sequential& net, int i) {
    return net->ptr<torch::nn::LinearImpl>(static_cast<std::size_t>(i));
  };
  auto norm = [](const torch::nn::Sequential& net, int i) {
    return net->ptr<torch::nn::LayerNormImpl>(static_cast<std::size_t>(i));
  };
  const auto& a = actor.net;
  const detail::ImagineWeights w{.actor_w1 = linear(a, 0)->weight,
                                 .actor_g1 = norm(a, 1)->weight,
                                 .actor_b1 = norm(a, 1)->bias,
                                 .actor_w2 = linear(a, 3)->weight,
                                 .actor_g2 = norm(a, 4)->weight,
                                 .actor_b2 = norm(a, 4)->bias,
                                 .actor_w3 = linear(a, 6)->weight,
                                 .actor_b3 = linear(a, 6)->bias,
                                 .in_w = linear(img_in, 0)->weight,
                                 .in_g = norm(img_in, 1)->weight,
                                 .in_b = norm(img_in, 1)->bias,
                                 .w_ih = gru->weight_ih,
                                 .w_hh = gru->weight_hh,
                                 .b_ih = gru->bias_ih,
                                 .b_hh = gru->bias_hh,
                                 .prior_w1 = linear(prior, 0)->weight,
                                 .prior_g1 = norm(prior, 1)->weight,
                                 .prior_b1 = norm(prior, 1)->bias,
                                 .prior_w2 = linear(prior, 3)->weight,
                                 .prior_b2 = linear(prior, 3)->bias};
  SIMLAB_CHECK(norm(a, 1)->options.eps() == norm(img_in, 1)->options.eps() &&
               norm(prior, 1)->options.eps() == norm(img_in, 1)->options.eps())
      << "the rollout's layer norms share one epsilon";
  const auto out =
      detail::imagine_scan(start.deter, start.stoch, start.index, action_noise, latent_u, w, stoch,
                           classes, unimix, norm(img_in, 1)->options.eps());
  return {{out.deter, out.stoch, out.index}, out.entropy, out.pre_tanh};
}

torch::Tensor WorldModelImpl::on_features(torch::nn::Sequential net, const Latent& s) {
  if (!s.index.defined()) return net->forward(s.feat());
  const auto& first = net->ptr<torch::nn::LinearImpl>(0);
  SIMLAB_CHECK(!first->options.bias()) << "on_features: the first layer has no bias";
  auto x = detail::latent_linear(s.deter, s.stoch, s.index, first->weight);
  for (auto it = net->begin() + 1; it != net->end(); ++it)
    x = it->forward(x);
  return x;
}

Latent WorldModelImpl::imagine(const Latent& prev, const torch::Tensor& action,
                               const torch::Tensor& noise) {
  // img_in([z, a]): z's share gathered by its indices.
  auto x = detail::latent_linear(action, prev.stoch, prev.index,
                                 img_in->ptr<torch::nn::LinearImpl>(0)->weight,
                                 /*latent_first=*/true);
  for (auto it = img_in->begin() + 1; it != img_in->end(); ++it)
    x = it->forward(x);
  const auto h = gru->forward(x, prev.deter);
  const auto [z, index] = sample_st(prior_logits(h), noise);
  return {h, z, index};
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

std::pair<torch::Tensor, torch::Tensor> DreamerActorImpl::forward(const Latent& s) {
  return distribution(WorldModelImpl::on_features(net, s));
}

std::pair<torch::Tensor, torch::Tensor> DreamerActorImpl::forward(const torch::Tensor& feat) {
  return distribution(net->forward(feat));
}

std::pair<torch::Tensor, torch::Tensor> DreamerActorImpl::distribution(
    const torch::Tensor& out) const {
  const auto mean = 5 * torch::tanh(out.slice(-1, 0, act_dim) / 5);
  const auto std = 0.9 * torch::sigmoid(out.slice(-1, act_dim) + 2) + 0.1;
  return {mean, std};
}

Dreamer::Dreamer(int obs_dim, int act_dim, DreamerConfig config, torch::Device device)
    : config_(std::move(config)),
      device_(device),
      obs_dim_(obs_dim),
      act_dim_(act_dim),
      model_(obs_dim, act_dim, config_),
      actor_(config_.deter + config_.stoch * config_.classes, act_dim, config_.hidden),
      critic_(mlp(config_.deter + config_.stoch * config_.classes, config_.hidden, 2, 1, true)),
      slow_critic_(
          mlp(config_.deter + config_.stoch * config_.classes, config_.hidden, 2, 1, true)) {
  if (config_.actor_grad != "backprop" && config_.actor_grad != "reinforce")
    throw Error(SourceLocation{.field = "dreamer.actor_grad"},
                "'" + config_.actor_grad + "': expected backprop or reinforce");
  model_->to(device_);
  actor_->to(device_);
  critic_->to(device_);
  slow_critic_->to(device_);
  for (auto& p : slow_critic_->parameters())
    p.requires_grad_(false);
  model_params_ = std::make_unique<FlatParameters>(model_->parameters());
  actor_params_ = std::make_unique<FlatParameters>(actor_->parameters());
  critic_params_ = std::make_unique<FlatParameters>(critic_->parameters());
  slow_params_ = std::make_unique<FlatParameters>(slow_critic_->parameters(), /*grads=*/false);
  {
    torch::NoGradGuard guard;
    slow_params_->values().copy_(critic_params_->values());
  }
  model_opt_ = std::make_unique<FlatAdam>(
      *model_params_, AdamOptions{.lr = config_.model_lr, .eps = 1e-8, .clip = config_.model_clip});
  actor_opt_ = std::make_unique<FlatAdam>(
      *actor_params_, AdamOptions{.lr = config_.actor_lr, .eps = 1e-5, .clip = config_.ac_clip});
  critic_opt_ = std::make_unique<FlatAdam>(
      *critic_params_, AdamOptions{.lr = config_.critic_lr, .eps = 1e-5, .clip = config_.ac_clip});
  const auto options = torch::TensorOptions().device(device_);
  return_scale_ = torch::full({}, -1.0f, options);
  stats_ = torch::zeros({kStats}, options);
  first_bad_ = torch::zeros({kStats}, options);
  bad_ = torch::zeros({kStats}, options.dtype(torch::kBool));
  if (device_.is_cuda() && config_.cuda_graphs) graph_ = std::make_unique<GraphedUpdate>();
}

Dreamer::~Dreamer() = default;

void Dreamer::set_distributed(Distributed* distributed) {
  distributed_ = distributed;
  // A collective inside a captured graph is not something every backend supports: eager.
  if (distributed_) graph_.reset();
}

bool Dreamer::graphed() const {
  return graph_ && graph_->captured();
}

std::vector<torch::Tensor> Dreamer::parameters() const {
  return {model_params_->values(), actor_params_->values(), critic_params_->values(),
          slow_params_->values()};
}

void Dreamer::update(const SequenceBatch& batch) {
  if (!graph_) {
    update_on_device(batch.to(device_));
    return;
  }
  // A captured update reads fixed device buffers: copy the batch in (from pinned memory, queued
  // behind the previous update), then replay.
  auto put = [device = device_](torch::Tensor& to, const torch::Tensor& from) {
    if (!from.defined()) return;
    if (!to.defined()) to = torch::empty(from.sizes(), from.options().device(device));
    if (!to.sizes().equals(from.sizes()))
      throw Error(SourceLocation{.field = "dreamer.batch"},
                  "a captured update has static shapes: every batch must have the first one's");
    to.copy_(from.is_cuda() ? from : from.pin_memory(), /*non_blocking=*/true);
  };
  put(static_.obs, batch.obs);
  put(static_.action, batch.action);
  put(static_.reward, batch.reward);
  put(static_.first, batch.first);
  put(static_.terminal, batch.terminal);
  put(static_.image, batch.image);
  graph_->run([this] { update_on_device(static_); });
}

void Dreamer::update_on_device(const SequenceBatch& b) {
  const auto batch = b.obs.size(0), length = b.obs.size(1);
  const auto options = b.obs.options();
  const int groups = config_.stoch;
  const auto image = b.image.defined() && b.image.scalar_type() == torch::kUInt8
                         ? image_to_float(b.image)
                         : b.image;
  auto average = [this](const FlatParameters& p) {
    if (distributed_) distributed_->average(p.grads());
  };

  // World model: filter the posterior along each sequence, then every head at once.
  model_opt_->zero_grad();
  const auto embed = model_->embed(b.obs, image);
  const auto seq =
      model_->observe(embed, b.action, b.first, torch::rand({batch, length, groups}, options));
  const Latent states = seq.latent();  // [B, L, ..]
  const auto heads = [&](torch::nn::Sequential net) {
    return WorldModelImpl::on_features(net, states);
  };
  auto decoder_loss = torch::zeros({}, options);
  if (model_->use_state)
    decoder_loss = (heads(model_->decoder) - symlog(b.obs)).square().sum(-1).mean();
  auto image_loss = torch::zeros({}, options);
  if (model_->use_image) {
    image_loss = (model_->decode_image(states.feat()) - image).square().sum({-3, -2, -1}).mean();
    decoder_loss = decoder_loss + image_loss;
  }
  const auto reward_loss = (heads(model_->reward).squeeze(-1) - symlog(b.reward)).square().mean();
  const auto cont_loss =
      F::binary_cross_entropy_with_logits(heads(model_->cont).squeeze(-1), 1 - b.terminal);
  const auto log_prior = model_->log_probs(model_->prior_logits(seq.deter));
  const auto log_post = model_->log_probs(seq.post_logits);
  const auto dyn = kl(log_post.detach(), log_prior).sum(-1);  // [B, L]
  const auto rep = kl(log_post, log_prior.detach()).sum(-1);
  const auto kl_loss = config_.kl_dyn * dyn.clamp_min(config_.free_bits).mean() +
                       config_.kl_rep * rep.clamp_min(config_.free_bits).mean();
  const auto model_loss = decoder_loss + reward_loss + cont_loss + kl_loss;
  model_loss.backward();
  average(*model_params_);
  const auto model_norm = model_opt_->step();

  // Imagination from posterior states (a random subset of `imag_starts`); the world model is
  // frozen. Backprop: gradients reach the actor through the learned dynamics. Reinforce: the
  // rollout is data, and only the actor's log-likelihood of its actions learns.
  const bool reinforce = config_.reinforce();
  const auto n = batch * length;
  const auto starts = config_.imag_starts > 0 ? std::min<std::int64_t>(n, config_.imag_starts) : n;
  Latent s{seq.deter.detach().reshape({n, -1}), seq.stoch.detach().reshape({n, -1}),
           seq.index.reshape({n, -1})};
  auto start_cont = (1 - b.terminal).reshape({n});
  if (starts < n) {
    const auto pick = torch::rand({n}, options).argsort().slice(0, 0, starts);
    s = {s.deter.index_select(0, pick), s.stoch.index_select(0, pick),
         s.index.index_select(0, pick)};
    start_cont = start_cont.index_select(0, pick);
  }
  const int horizon = config_.horizon;
  const auto action_noise = torch::randn({horizon, starts, act_dim_}, options);
  const auto latent_noise = torch::rand({horizon, starts, groups}, options);
  torch::Tensor ret, weight, slow_value, entropy_steps, pre_tanh;
  Latent imagined;  // [H + 1, S, ..]
  {
    std::optional<torch::NoGradGuard> data_only;
    if (reinforce) data_only.emplace();
    for (const auto& p : model_params_->parameters())
      p.requires_grad_(false);
    auto rollout = model_->rollout(*actor_, s, action_noise, latent_noise);
    imagined = rollout.states;
    entropy_steps = rollout.entropy;
    pre_tanh = rollout.pre_tanh;
    const auto on = [&](torch::nn::Sequential net) {  // [H + 1, S]
      return WorldModelImpl::on_features(net, imagined).squeeze(-1);
    };
    const auto reward = symexp(on(model_->reward));
    auto cont = torch::sigmoid(on(model_->cont));
    cont = torch::cat({start_cont.unsqueeze(0), cont.slice(0, 1)}, 0);
    slow_value = on(slow_critic_);  // symlog units
    const auto value = symexp(slow_value);
    for (const auto& p : model_params_->parameters())
      p.requires_grad_(true);
    // Lambda-returns R_k = r_{k+1} + gamma c_{k+1} ((1 - lambda) v_{k+1} + lambda R_{k+1}).
    std::vector<torch::Tensor> returns(static_cast<std::size_t>(horizon));
    auto next = value[horizon];
    for (int k = horizon - 1; k >= 0; --k) {
      next = reward[k + 1] + config_.gamma * cont[k + 1] *
                                 ((1 - config_.lambda) * value[k + 1] + config_.lambda * next);
      returns[k] = next;
    }
    ret = torch::stack(returns, 0);  // [H, S]
    weight = torch::cumprod(torch::cat({torch::ones_like(cont[0]).unsqueeze(0),
                                        config_.gamma * cont.slice(0, 1, horizon)},
                                       0),
                            0)
                 .detach();
  }
  // Return normalization: an EMA of the 5-95% range of this batch's returns, kept on the device.
  torch::Tensor scale;
  {
    torch::NoGradGuard guard;
    const auto sorted = std::get<0>(ret.detach().flatten().sort());
    const auto range = percentile(sorted, 0.95) - percentile(sorted, 0.05);
    return_scale_.copy_(
        torch::where(return_scale_ < 0, range, 0.99 * return_scale_ + 0.01 * range));
    scale = return_scale_.clamp_min(1.0);
  }
  const Latent f_sg{imagined.deter.slice(0, 0, horizon).detach(),
                    imagined.stoch.slice(0, 0, horizon).detach(),
                    imagined.index.slice(0, 0, horizon)};  // [H, S, ..]
  // The critic once: its loss below, and the baseline of reinforce.
  const auto predicted = WorldModelImpl::on_features(critic_, f_sg).squeeze(-1);
  actor_opt_->zero_grad();
  torch::Tensor actor_loss, entropy;
  if (reinforce) {
    const auto [mean, std] = actor_->forward(f_sg);
    // log N(u; mean, std) up to a constant; tanh's Jacobian does not depend on the parameters.
    const auto log_prob = (-0.5 * ((pre_tanh - mean) / std).square() - torch::log(std)).sum(-1);
    const auto baseline = symexp(predicted.detach());
    entropy = torch::log(std).sum(-1);
    actor_loss =
        -(weight * (log_prob * ((ret - baseline) / scale) + config_.entropy * entropy)).mean();
  } else {
    entropy = entropy_steps;
    actor_loss = -(weight * (ret / scale + config_.entropy * entropy)).mean();
  }
  actor_loss.backward();
  average(*actor_params_);
  const auto actor_norm = actor_opt_->step();

  critic_opt_->zero_grad();
  const auto target = symlog(ret.detach());
  const auto slow = slow_value.slice(0, 0, horizon).detach();
  const auto critic_loss =
      (weight * ((predicted - target).square() + (predicted - slow).square())).mean();
  critic_loss.backward();
  average(*critic_params_);
  const auto critic_norm = critic_opt_->step();

  torch::NoGradGuard guard;
  slow_params_->values()
      .mul_(1 - config_.slow_critic)
      .add_(critic_params_->values(), config_.slow_critic);
  const auto values = torch::stack({model_loss, decoder_loss, image_loss, reward_loss, cont_loss,
                                    dyn.mean(), actor_loss, critic_loss, entropy.mean(), ret.mean(),
                                    scale, model_norm, actor_norm, critic_norm})
                          .detach()
                          .to(torch::kFloat32);
  stats_.copy_(values);
  first_bad_.copy_(torch::where(bad_, first_bad_, values));
  bad_.logical_or_(torch::isfinite(values).logical_not());
}

DreamerStats Dreamer::stats() {
  const auto v = stats_.to(torch::kCPU, torch::kFloat64);
  const auto bad = bad_.to(torch::kCPU).clone();  // a copy: on the CPU, to() is the same tensor
  if (bad.any().item<bool>()) {
    const auto first = first_bad_.to(torch::kCPU, torch::kFloat64);
    bad_.zero_();
    for (int i = 0; i < kStats; ++i)
      if (bad[i].item<bool>()) throw loss_error(kStatNames[i], first[i].item<double>());
  }
  const auto* x = v.data_ptr<double>();
  DreamerStats s;
  s.model_loss = x[kModelLoss];
  s.decoder_loss = x[kDecoderLoss];
  s.image_loss = x[kImageLoss];
  s.reward_loss = x[kRewardLoss];
  s.cont_loss = x[kContLoss];
  s.kl = x[kKl];
  s.actor_loss = x[kActorLoss];
  s.critic_loss = x[kCriticLoss];
  s.entropy = x[kEntropy];
  s.imag_return = x[kImagReturn];
  s.return_scale = x[kReturnScale];
  s.model_grad_norm = x[kModelNorm];
  s.actor_grad_norm = x[kActorNorm];
  s.critic_grad_norm = x[kCriticNorm];
  return s;
}

double Dreamer::update_flops(std::int64_t batch, std::int64_t seq_len) const {
  const double o = obs_dim_, a = act_dim_, d = config_.deter, h = config_.hidden;
  const double z = static_cast<double>(config_.stoch) * config_.classes, f = d + z;
  const double e = (model_->use_state ? h : 0) + (model_->use_image ? 128 * 4 * 4 : 0);
  const double tokens = static_cast<double>(batch) * static_cast<double>(seq_len);
  auto dense = [](double rows, double in, double out) { return 2 * rows * in * out; };
  auto head = [&](double rows, double out) {  // Linear-LN-SiLU x2 and an output layer
    return dense(rows, f, h) + dense(rows, h, h) + dense(rows, h, out);
  };
  // World model, forward: encoder, the recurrent step, posterior and prior, the heads.
  double model = dense(tokens, z + a, h) + dense(tokens, h, 3 * d) + dense(tokens, d, 3 * d) +
                 dense(tokens, d + e, h) + dense(tokens, h, z) + dense(tokens, d, h) +
                 dense(tokens, h, z) + head(tokens, 1) + head(tokens, 1);
  if (model_->use_state) model += dense(tokens, o, h) + dense(tokens, h, h) + head(tokens, o);
  if (model_->use_image) {
    // 4 stride-2 convolutions (kernel 4) 64 -> 4 pixels, the transposed ones back, and the
    // decoder's linear input layer.
    const int channels[5] = {3, 16, 32, 64, 128};
    double conv = 0;
    for (int i = 0; i < 4; ++i) {
      const double out_pixels = std::pow(32.0 / std::pow(2.0, i), 2);
      conv += 2 * out_pixels * channels[i + 1] * channels[i] * 16;
    }
    model += tokens * 2 * conv + dense(tokens, f, 128 * 4 * 4);
  }
  const double starts =
      config_.imag_starts > 0 ? std::min<double>(tokens, config_.imag_starts) : tokens;
  const double imagined = starts * config_.horizon, states = starts * (config_.horizon + 1);
  const double actor = dense(imagined, f, h) + dense(imagined, h, h) + dense(imagined, h, 2 * a);
  const double dynamics = dense(imagined, z + a, h) + dense(imagined, h, 3 * d) +
                          dense(imagined, d, 3 * d) + dense(imagined, d, h) + dense(imagined, h, z);
  const double heads = 3 * head(states, 1);  // reward, continuation and slow critic on every state
  const double critic = head(imagined, 1);   // one critic pass over the imagined states
  // Reinforce: the rollout and heads forward only, the actor again with weight gradients, the
  // critic (its output also the baseline) trained. Backprop: gradients flow back through the
  // rollout and the heads into the actor. The slow critic's values on the imagined states double
  // as the critic's regularization target.
  const double behaviour = config_.reinforce() ? 3 * actor + dynamics + heads + 2 * critic
                                               : 2 * actor + 2 * dynamics + 2 * heads + 2 * critic;
  return 3 * model + behaviour;
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
  return {model_params_->values().detach().to(torch::kCPU).clone(),
          actor_params_->values().detach().to(torch::kCPU).clone()};
}

void Dreamer::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive model, actor, critic, slow;
  model_->save(model);
  actor_->save(actor);
  critic_->save(critic);
  slow_critic_->save(slow);
  archive.write("world_model", model);
  archive.write("actor", actor);
  archive.write("critic", critic);
  archive.write("slow_critic", slow);
  model_opt_->save(archive, "model_optimizer");
  actor_opt_->save(archive, "actor_optimizer");
  critic_opt_->save(archive, "critic_optimizer");
  archive.write("return_scale", return_scale_.to(torch::kCPU));
  // The device's generator (the CPU's is the caller's, with the loop's counters): a resumed run
  // draws the noise an uninterrupted one would.
  if (device_.is_cuda()) {
    auto generator = at::globalContext().defaultGenerator(device_);
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("device_rng", generator.get_state());
  }
}

void Dreamer::load(torch::serialize::InputArchive& archive, const std::filesystem::path& file) {
  torch::serialize::InputArchive model, actor, critic, slow;
  archive.read("world_model", model);
  archive.read("actor", actor);
  archive.read("critic", critic);
  archive.read("slow_critic", slow);
  // Shapes and types checked against this configuration before anything is re-pointed.
  detail::load_module(*model_, model, file, "world_model");
  detail::load_module(*actor_, actor, file, "actor");
  detail::load_module(*critic_, critic, file, "critic");
  detail::load_module(*slow_critic_, slow, file, "slow_critic");
  // Module::load re-points parameters at what it read: gather them into the flat buffers again.
  for (auto* p :
       {model_params_.get(), actor_params_.get(), critic_params_.get(), slow_params_.get()})
    p->rebind();
  model_opt_->load(archive, "model_optimizer");
  actor_opt_->load(archive, "actor_optimizer");
  critic_opt_->load(archive, "critic_optimizer");
  torch::Tensor scale;
  archive.read("return_scale", scale);
  return_scale_.copy_(scale.reshape({}));
  torch::Tensor rng;
  if (device_.is_cuda() && archive.try_read("device_rng", rng)) {
    auto generator = at::globalContext().defaultGenerator(device_);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
  }
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

std::vector<torch::Tensor> DreamerPolicy::state() const {
  return {state_.deter.clone(), state_.stoch.clone(), prev_action_.clone(),
          torch::tensor(steps_, torch::kInt64)};
}

void DreamerPolicy::set_state(const std::vector<torch::Tensor>& state) {
  SIMLAB_CHECK(state.size() == 4) << "a DreamerPolicy state has 4 tensors";
  state_ = {state[0].clone(), state[1].clone()};
  prev_action_ = state[2].clone();
  steps_ = state[3].item<std::int64_t>();
  envs_ = static_cast<int>(prev_action_.size(0));
}

void DreamerPolicy::load(const std::vector<torch::Tensor>& weights) {
  SIMLAB_CHECK(weights.size() == 2) << "expected Dreamer::policy_weights(): world model and actor";
  copy_flat(model_->parameters(), weights[0]);
  copy_flat(actor_->parameters(), weights[1]);
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
