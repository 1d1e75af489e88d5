#include "learners/optim.h"

#include "engine/core/error.h"

namespace simlab::learners {

FlatParameters::FlatParameters(std::vector<torch::Tensor> parameters, bool grads)
    : params_(std::move(parameters)) {
  SIMLAB_CHECK(!params_.empty()) << "FlatParameters needs at least one parameter";
  std::int64_t total = 0;
  for (const auto& p : params_)
    total += p.numel();
  const auto options = params_[0].options().requires_grad(false);
  values_ = torch::empty({total}, options);
  if (grads) grads_ = torch::zeros({total}, options);
  rebind();
}

void FlatParameters::rebind() {
  torch::NoGradGuard guard;
  std::int64_t at = 0;
  for (auto& p : params_) {
    const auto n = p.numel();
    SIMLAB_CHECK(p.scalar_type() == values_.scalar_type())
        << "parameters of one FlatParameters share a dtype";
    auto slice = values_.slice(0, at, at + n);
    slice.copy_(p.detach().reshape({-1}));
    p.set_data(slice.view(p.sizes()));
    // Backward accumulates into a defined gradient in place: into the flat buffer.
    if (grads_.defined()) p.mutable_grad() = grads_.slice(0, at, at + n).view(p.sizes());
    at += n;
  }
}

FlatAdam::FlatAdam(FlatParameters& params, AdamOptions options)
    : params_(params),
      options_(options),
      m_(torch::zeros_like(params.values())),
      v_(torch::zeros_like(params.values())),
      t_(torch::zeros({}, params.values().options())) {}

torch::Tensor FlatAdam::step() {
  torch::NoGradGuard guard;
  const auto& g = params_.grads();
  auto norm = g.norm();
  if (options_.clip > 0) g.mul_((options_.clip / (norm + 1e-6)).clamp_max(1.0));
  const double b1 = options_.beta1, b2 = options_.beta2;
  m_.mul_(b1).add_(g, 1 - b1);
  v_.mul_(b2).addcmul_(g, g, 1 - b2);
  t_.add_(1);
  // lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), as torch::optim::Adam, with the bias
  // corrections computed on the device from the step count.
  const auto correction1 = 1 - torch::pow(b1, t_);
  const auto correction2 = (1 - torch::pow(b2, t_)).sqrt();
  const auto denom = v_.sqrt().div_(correction2).add_(options_.eps);
  params_.values().addcdiv_(m_, denom * (correction1 / -options_.lr));
  return norm;
}

void FlatAdam::save(torch::serialize::OutputArchive& archive, const std::string& prefix) const {
  archive.write(prefix + "_m", m_);
  archive.write(prefix + "_v", v_);
  archive.write(prefix + "_t", t_);
}

void FlatAdam::load(torch::serialize::InputArchive& archive, const std::string& prefix) {
  torch::Tensor m, v, t;
  archive.read(prefix + "_m", m);
  archive.read(prefix + "_v", v);
  archive.read(prefix + "_t", t);
  if (!m.sizes().equals(m_.sizes()) || !v.sizes().equals(v_.sizes()))
    throw Error(SourceLocation{.field = prefix},
                "the checkpoint's optimizer state has another size (" + std::to_string(m.numel()) +
                    " values, the model has " + std::to_string(m_.numel()) + ")");
  torch::NoGradGuard guard;
  m_.copy_(m);
  v_.copy_(v);
  t_.copy_(t.reshape({}));
}

}  // namespace simlab::learners
