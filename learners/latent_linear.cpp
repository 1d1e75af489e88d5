#include "learners/latent_linear.h"

namespace simlab::learners::detail {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LatentLinear : torch::autograd::Function<LatentLinear> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& z, const Tensor& index,
                        const Tensor& weight, bool latent_first) {
    const auto xd = x.size(-1), zd = z.size(-1);
    const auto wx = weight.narrow(1, latent_first ? zd : 0, xd);
    const auto wz = weight.narrow(1, latent_first ? 0 : xd, zd);
    ctx->save_for_backward({x, z, weight});
    ctx->saved_data["latent_first"] = latent_first;
    return torch::addmm(latent_rows(z, index, wz.t()), x, wx.t());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &z = saved[1], &weight = saved[2];
    const bool latent_first = ctx->saved_data["latent_first"].toBool();
    const auto xd = x.size(-1), zd = z.size(-1);
    const auto x_at = latent_first ? zd : 0, z_at = latent_first ? 0 : xd;
    const Tensor& dy = grads[0];
    Tensor dx, dz, dw;
    if (ctx->needs_input_grad(0)) dx = dy.mm(weight.narrow(1, x_at, xd));
    if (ctx->needs_input_grad(1)) dz = dy.mm(weight.narrow(1, z_at, zd));
    if (ctx->needs_input_grad(3)) {
      const auto dyt = dy.t();
      dw = latent_first ? torch::cat({dyt.mm(z), dyt.mm(x)}, 1)
                        : torch::cat({dyt.mm(x), dyt.mm(z)}, 1);
    }
    return {dx, dz, Tensor(), dw, Tensor()};
  }
};

}  // namespace

torch::Tensor latent_rows(const torch::Tensor& z, const torch::Tensor& index,
                          const torch::Tensor& table) {
  // A GPU multiplies a 256-wide one-hot as fast as it gathers, and its embedding bag may read
  // offsets back to the host, which a captured CUDA graph cannot do.
  if (z.is_cuda()) return z.mm(table);
  return torch::nn::functional::embedding_bag(
      index, table.contiguous(),
      torch::nn::functional::EmbeddingBagFuncOptions().mode(torch::kSum));
}

torch::Tensor latent_linear(const torch::Tensor& x, const torch::Tensor& z,
                            const torch::Tensor& index, const torch::Tensor& weight,
                            bool latent_first) {
  const auto lead = x.sizes().slice(0, x.dim() - 1).vec();
  auto y = LatentLinear::apply(x.reshape({-1, x.size(-1)}), z.reshape({-1, z.size(-1)}),
                               index.reshape({-1, index.size(-1)}), weight, latent_first);
  auto shape = lead;
  shape.push_back(weight.size(0));
  return y.reshape(shape);
}

}  // namespace simlab::learners::detail
