#include "learners/rssm_scan.h"

#include <array>
#include <string>
#include <vector>

#include "learners/scan_support.h"

namespace simlab::learners::detail {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the backward pass needs of every step (kept per step, [B, ..] each).
enum Saved {
  kHm,     // GRU state in, after the episode mask
  kZm,     // latent in, after the episode mask
  kU,      // img_in's pre-norm activations
  kMean1,  // its LN statistics
  kRstd1,
  kXhat1,  // normalized
  kA1,     // LN output (SiLU input)
  kX,      // GRU input
  kRz,     // reset and update gates
  kN,      // candidate state
  kGhn,    // the hidden state's share of the candidate's pre-activation
  kH,      // GRU state out
  kV,      // post's pre-norm activations
  kMean2,
  kRstd2,
  kXhat2,
  kA2,
  kY,   // post's hidden layer
  kSm,  // softmax of the logits, per group
  kSaved
};

struct RssmScan : torch::autograd::Function<RssmScan> {
  static variable_list forward(AutogradContext* ctx, Tensor from_action, Tensor from_embed,
                               Tensor keep, Tensor noise, Tensor z_in, Tensor in_norm_w,
                               Tensor in_norm_b, Tensor w_ih, Tensor w_hh, Tensor b_ih, Tensor b_hh,
                               Tensor h_in, Tensor post_norm_w, Tensor post_norm_b, Tensor out_w,
                               Tensor out_b, int64_t groups, int64_t classes, double unimix,
                               double eps, bool for_backward) {
    const auto length = from_action.size(0), batch = from_action.size(1);
    const auto hidden = from_action.size(2), d = w_hh.size(1), z_dim = z_in.size(0);
    const auto w_ih_t = w_ih.t(), w_hh_t = w_hh.t(), out_w_t = out_w.t();
    const auto a = from_action.unbind(0), e = from_embed.unbind(0), k = keep.unbind(0),
               g = noise.unbind(0);
    std::array<std::vector<Tensor>, kSaved> saved;
    for (auto& s : saved)
      s.reserve(static_cast<std::size_t>(length));
    std::vector<Tensor> stochs, logits, indices;
    // p = (1 - mix) softmax + mix / classes, with 0-dim tensors: a double scalar would be wrapped
    // and converted on every call.
    const Tensor keep_p = torch::full({}, 1 - unimix, from_action.options());
    const Tensor floor_p =
        torch::full({}, unimix / static_cast<double>(classes), from_action.options());
    Tensor h = torch::zeros({batch, d}, from_action.options());
    Tensor z = torch::zeros({batch, z_dim}, from_action.options());
    for (int64_t t = 0; t < length; ++t) {
      const Tensor hm = t ? h * k[t] : h, zm = t ? z * k[t] : z;
      const Tensor u = torch::addmm(a[t], zm, z_in);
      const auto [xhat1, mean1, rstd1] = at::native_layer_norm(u, {hidden}, {}, {}, eps);
      const Tensor a1 = torch::addcmul(in_norm_b, xhat1, in_norm_w);
      const Tensor x = torch::silu(a1);
      const GruStep gru = gru_step(x, hm, w_ih_t, w_hh_t, b_ih, b_hh);
      h = gru.h;
      const Tensor v = torch::addmm(e[t], h, h_in);
      const auto [xhat2, mean2, rstd2] = at::native_layer_norm(v, {hidden}, {}, {}, eps);
      const Tensor a2 = torch::addcmul(post_norm_b, xhat2, post_norm_w);
      const Tensor y = torch::silu(a2);
      const Tensor l = torch::addmm(out_b, y, out_w_t);
      const Tensor sm = torch::softmax(l.view({batch, groups, classes}), -1);
      const auto sample = categorical_sample(torch::addcmul(floor_p, sm, keep_p), g[t]);
      z = sample.one_hot.view({batch, z_dim});
      indices.push_back(sample.index);
      for (const auto& [slot, value] : {std::pair{kHm, hm},
                                        {kZm, zm},
                                        {kU, u},
                                        {kMean1, mean1},
                                        {kRstd1, rstd1},
                                        {kXhat1, xhat1},
                                        {kA1, a1},
                                        {kX, x},
                                        {kRz, gru.rz},
                                        {kN, gru.n},
                                        {kGhn, gru.ghn},
                                        {kH, h},
                                        {kV, v},
                                        {kMean2, mean2},
                                        {kRstd2, rstd2},
                                        {kXhat2, xhat2},
                                        {kA2, a2},
                                        {kY, y},
                                        {kSm, sm}})
        saved[slot].push_back(value);
      stochs.push_back(z);
      logits.push_back(l);
    }
    if (for_backward) {
      keep_steps(ctx, saved);
      ctx->save_for_backward({keep, z_in, in_norm_w, w_ih, w_hh, h_in, post_norm_w, out_w});
    }
    ctx->saved_data["unimix"] = unimix;
    auto index = torch::stack(indices, 0);
    ctx->mark_non_differentiable({index});
    return {torch::stack(saved[kH], 0), torch::stack(stochs, 0), torch::stack(logits, 0), index};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto w = ctx->get_saved_variables();
    const auto s = kept_steps<kSaved>(ctx);
    const Tensor &keep = w[0], &z_in = w[1], &in_norm_w = w[2], &w_ih = w[3], &w_hh = w[4],
                 &h_in = w[5], &post_norm_w = w[6], &out_w = w[7];
    const double unimix = ctx->saved_data["unimix"].toDouble();
    const auto length = static_cast<int64_t>(s[kH].size());
    const auto batch = s[kH][0].size(0);
    const auto hidden = s[kU][0].size(1), z_dim = z_in.size(0);
    const auto k = keep.unbind(0);
    auto step_grads = [&](int i) {
      return grads[i].defined() ? grads[i].unbind(0) : std::vector<Tensor>{};
    };
    const auto g_deter = step_grads(0), g_stoch = step_grads(1), g_logits = step_grads(2);
    const auto z_in_t = z_in.t(), h_in_t = h_in.t();
    const Tensor keep_p = torch::full({}, 1 - unimix, z_in.options());

    std::vector<Tensor> du(length), da1(length), dgi(length), dgh(length), dv(length), da2(length),
        dl(length);
    Tensor dh_next, dz_next;
    for (int64_t t = length - 1; t >= 0; --t) {
      // Into z_t (straight-through: into p) and l_t.
      Tensor dz = dz_next;
      if (!g_stoch.empty()) dz = dz.defined() ? dz + g_stoch[t] : g_stoch[t];
      const Tensor& sm = s[kSm][t];
      Tensor dlt;
      if (dz.defined()) {
        dlt = mixed_softmax_backward(dz, sm, keep_p);
        if (!g_logits.empty()) dlt.add_(g_logits[t]);
      } else {
        dlt = g_logits.empty() ? torch::zeros({batch, z_dim}, sm.options()) : g_logits[t];
      }
      dl[t] = dlt;
      // Posterior's hidden layer.
      const Tensor dy = dlt.mm(out_w);
      da2[t] = at::silu_backward(dy, s[kA2][t]);
      dv[t] = std::get<0>(at::native_layer_norm_backward(da2[t] * post_norm_w, s[kV][t], {hidden},
                                                         s[kMean2][t], s[kRstd2][t], {}, {},
                                                         {true, false, false}));
      // Into h_t: the output, the next step, the posterior.
      Tensor dh = dv[t].mm(h_in_t);
      if (!g_deter.empty()) dh.add_(g_deter[t]);
      if (dh_next.defined()) dh.add_(dh_next);
      // GRU.
      const auto gru =
          gru_step_backward(dh, s[kHm][t], {{}, s[kRz][t], s[kN][t], s[kGhn][t]}, w_hh);
      dgi[t] = gru.dgi;
      dgh[t] = gru.dgh;
      const Tensor& dhm = gru.dh;
      // img_in.
      da1[t] = at::silu_backward(dgi[t].mm(w_ih), s[kA1][t]);
      du[t] = std::get<0>(at::native_layer_norm_backward(da1[t] * in_norm_w, s[kU][t], {hidden},
                                                         s[kMean1][t], s[kRstd1][t], {}, {},
                                                         {true, false, false}));
      if (t > 0) {
        dh_next = dhm * k[t];
        dz_next = du[t].mm(z_in_t) * k[t];
      }
    }
    // Each weight's gradient in one product over every step and sequence.
    const Tensor DU = torch::stack(du, 0), DA1 = torch::stack(da1, 0), DGI = torch::stack(dgi, 0),
                 DGH = torch::stack(dgh, 0), DV = torch::stack(dv, 0), DA2 = torch::stack(da2, 0),
                 DL = torch::stack(dl, 0);
    auto sum_rows = [](const Tensor& x) { return rows(x).sum(0); };
    auto all = [&](Saved slot) { return torch::stack(s[slot], 0); };
    variable_list out(21);
    out[0] = DU;  // from_action
    out[1] = DV;  // from_embed
    out[4] = rows(all(kZm)).t().mm(rows(DU));
    out[5] = sum_rows(DA1 * all(kXhat1));
    out[6] = sum_rows(DA1);
    out[7] = rows(DGI).t().mm(rows(all(kX)));
    out[8] = rows(DGH).t().mm(rows(all(kHm)));
    out[9] = sum_rows(DGI);
    out[10] = sum_rows(DGH);
    out[11] = rows(all(kH)).t().mm(rows(DV));
    out[12] = sum_rows(DA2 * all(kXhat2));
    out[13] = sum_rows(DA2);
    out[14] = rows(DL).t().mm(rows(all(kY)));
    out[15] = sum_rows(DL);
    return out;
  }
};

}  // namespace

Categorical categorical_sample(const torch::Tensor& probs, const torch::Tensor& u) {
  const auto groups = probs.size(-2), classes = probs.size(-1);
  const auto index =
      (probs.cumsum(-1) < u.unsqueeze(-1)).sum(-1, /*keepdim=*/true).clamp_max_(classes - 1);
  const auto offsets = torch::arange(0, groups * classes, classes, index.options());
  return {torch::zeros_like(probs).scatter_(-1, index, 1.0), index.squeeze(-1) + offsets};
}

RssmScanOutput rssm_scan(const torch::Tensor& from_action, const torch::Tensor& from_embed,
                         const torch::Tensor& keep, const torch::Tensor& noise,
                         const RssmScanWeights& w, std::int64_t groups, std::int64_t classes,
                         double unimix, double eps) {
  const auto out =
      RssmScan::apply(from_action, from_embed, keep, noise, w.z_in, w.in_norm_w, w.in_norm_b,
                      w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.h_in, w.post_norm_w, w.post_norm_b, w.out_w,
                      w.out_b, groups, classes, unimix, eps, torch::GradMode::is_enabled());
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace simlab::learners::detail
