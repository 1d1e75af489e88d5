#include "learners/imagine_scan.h"

#include <array>
#include <string>
#include <vector>

#include "learners/latent_linear.h"
#include "learners/rssm_scan.h"
#include "learners/scan_support.h"

namespace simlab::learners::detail {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the backward pass needs of every step (kept per step, [S, ..] each).
enum Saved {
  kHk,  // state in
  kZk,
  kA1Pre,  // actor layer 1: pre-norm, LN statistics, normalized, LN output
  kA1Mean,
  kA1Rstd,
  kA1Xhat,
  kA1,
  kX1,  // actor layer 1's output
  kA2Pre,
  kA2Mean,
  kA2Rstd,
  kA2Xhat,
  kA2,
  kX2,
  kTm,    // tanh(o_mean / 5)
  kSg,    // sigmoid(o_std + 2)
  kStd,   // the action distribution's std
  kAct,   // the action, tanh(u)
  kIPre,  // img_in
  kIMean,
  kIRstd,
  kIA,
  kRz,  // GRU gates, candidate, the hidden share of the candidate's pre-activation
  kN,
  kGhn,
  kPPre,  // prior layer 1
  kPMean,
  kPRstd,
  kPA,
  kSm,  // softmax of the prior's logits, per group
  kSaved
};

struct ImagineScan : torch::autograd::Function<ImagineScan> {
  static variable_list forward(AutogradContext* ctx, Tensor deter0, Tensor stoch0, Tensor index0,
                               Tensor action_noise, Tensor latent_u, Tensor actor_w1,
                               Tensor actor_g1, Tensor actor_b1, Tensor actor_w2, Tensor actor_g2,
                               Tensor actor_b2, Tensor actor_w3, Tensor actor_b3, Tensor in_w,
                               Tensor in_g, Tensor in_b, Tensor w_ih, Tensor w_hh, Tensor b_ih,
                               Tensor b_hh, Tensor prior_w1, Tensor prior_g1, Tensor prior_b1,
                               Tensor prior_w2, Tensor prior_b2, int64_t groups, int64_t classes,
                               double unimix, double eps, bool for_backward) {
    const auto horizon = action_noise.size(0), starts = deter0.size(0), d = deter0.size(1);
    const auto z_dim = stoch0.size(1), a_dim = action_noise.size(2);
    const auto hidden = actor_w1.size(0), in_hidden = in_w.size(0), p_hidden = prior_w1.size(0);
    const auto opts = deter0.options();
    auto c = [&](double v) { return torch::full({}, v, opts); };  // no wrapped double scalars
    const Tensor c_fifth = c(0.2), c_five = c(5), c_two = c(2), c_std_scale = c(0.9),
                 c_std_floor = c(0.1), keep_p = c(1 - unimix),
                 floor_p = c(unimix / static_cast<double>(classes));
    // The latent's share of the first layers as gather tables, the dense shares transposed.
    const Tensor a1_z = actor_w1.narrow(1, d, z_dim).t().contiguous();
    const Tensor a1_h = actor_w1.narrow(1, 0, d).t();
    const Tensor in_z = in_w.narrow(1, 0, z_dim).t().contiguous();
    const Tensor in_a = in_w.narrow(1, z_dim, a_dim).t();
    const Tensor w2_t = actor_w2.t(), w3_t = actor_w3.t(), w_ih_t = w_ih.t(), w_hh_t = w_hh.t(),
                 p1_t = prior_w1.t(), p2_t = prior_w2.t();
    const auto noise = action_noise.unbind(0), u_latent = latent_u.unbind(0);
    std::array<std::vector<Tensor>, kSaved> saved;
    std::vector<Tensor> deters{deter0}, stochs{stoch0}, indices{index0}, entropies, pre_tanh;
    Tensor h = deter0, z = stoch0, index = index0;
    auto norm = [&](const Tensor& x, int64_t n, const Tensor& g, const Tensor& b, Saved pre,
                    Saved mean, Saved rstd, Saved xhat_slot, Saved out) {
      const auto [xhat, m, r] = at::native_layer_norm(x, {n}, {}, {}, eps);
      const Tensor y = torch::addcmul(b, xhat, g);
      saved[pre].push_back(x);
      saved[mean].push_back(m);
      saved[rstd].push_back(r);
      if (xhat_slot != kSaved) saved[xhat_slot].push_back(xhat);
      saved[out].push_back(y);
      return y;
    };
    for (int64_t k = 0; k < horizon; ++k) {
      saved[kHk].push_back(h);
      saved[kZk].push_back(z);
      // The actor on [h, z].
      const Tensor x1 =
          torch::silu(norm(torch::addmm(latent_rows(z, index, a1_z), h, a1_h), hidden, actor_g1,
                           actor_b1, kA1Pre, kA1Mean, kA1Rstd, kA1Xhat, kA1));
      const Tensor x2 = torch::silu(
          norm(x1.mm(w2_t), hidden, actor_g2, actor_b2, kA2Pre, kA2Mean, kA2Rstd, kA2Xhat, kA2));
      const auto o = torch::addmm(actor_b3, x2, w3_t).split(a_dim, 1);
      const Tensor tm = torch::tanh(o[0] * c_fifth), sg = torch::sigmoid(o[1] + c_two);
      const Tensor std = torch::addcmul(c_std_floor, sg, c_std_scale);
      const Tensor u = torch::addcmul(tm * c_five, std, noise[k]);
      const Tensor act = torch::tanh(u);
      entropies.push_back(torch::log(std).sum(-1));
      pre_tanh.push_back(u);
      // The dynamics.
      const Tensor x = torch::silu(norm(torch::addmm(latent_rows(z, index, in_z), act, in_a),
                                        in_hidden, in_g, in_b, kIPre, kIMean, kIRstd, kSaved, kIA));
      const GruStep gru = gru_step(x, h, w_ih_t, w_hh_t, b_ih, b_hh);
      const Tensor& h_next = gru.h;
      const Tensor q = torch::silu(
          norm(h_next.mm(p1_t), p_hidden, prior_g1, prior_b1, kPPre, kPMean, kPRstd, kSaved, kPA));
      const Tensor logits = torch::addmm(prior_b2, q, p2_t);
      const Tensor sm = torch::softmax(logits.view({starts, groups, classes}), -1);
      const auto sample = categorical_sample(torch::addcmul(floor_p, sm, keep_p), u_latent[k]);
      for (const auto& [slot, value] : {std::pair{kX1, x1},
                                        {kX2, x2},
                                        {kTm, tm},
                                        {kSg, sg},
                                        {kStd, std},
                                        {kAct, act},
                                        {kRz, gru.rz},
                                        {kN, gru.n},
                                        {kGhn, gru.ghn},
                                        {kSm, sm}})
        saved[slot].push_back(value);
      h = h_next;
      z = sample.one_hot.view({starts, z_dim});
      index = sample.index;
      deters.push_back(h);
      stochs.push_back(z);
      indices.push_back(index);
    }
    if (for_backward) {
      keep_steps(ctx, saved);
      ctx->save_for_backward({action_noise, actor_g1, actor_w2, actor_g2, actor_w3, in_w, in_g,
                              w_ih, w_hh, prior_w1, prior_g1, prior_w2});
    }
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["classes"] = classes;
    ctx->saved_data["unimix"] = unimix;
    auto index_out = torch::stack(indices, 0), u_out = torch::stack(pre_tanh, 0);
    ctx->mark_non_differentiable({index_out, u_out});
    return {torch::stack(deters, 0), torch::stack(stochs, 0), index_out, torch::stack(entropies, 0),
            u_out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto all = ctx->get_saved_variables();
    const auto s = kept_steps<kSaved>(ctx);
    int at = 0;
    const Tensor action_noise = all[at++], actor_g1 = all[at++], actor_w2 = all[at++],
                 actor_g2 = all[at++], actor_w3 = all[at++], in_w = all[at++], in_g = all[at++],
                 w_ih = all[at++], w_hh = all[at++], prior_w1 = all[at++], prior_g1 = all[at++],
                 prior_w2 = all[at++];
    const auto groups = ctx->saved_data["groups"].toInt();
    const auto classes = ctx->saved_data["classes"].toInt();
    const double unimix = ctx->saved_data["unimix"].toDouble();
    const auto horizon = action_noise.size(0), starts = action_noise.size(1);
    const auto a_dim = action_noise.size(2);
    const auto d = w_hh.size(1), z_dim = groups * classes;
    const auto hidden = actor_w2.size(0), in_hidden = in_w.size(0), p_hidden = prior_w1.size(0);
    const Tensor keep_p = torch::full({}, 1 - unimix, action_noise.options());
    const Tensor c_std_scale = torch::full({}, 0.9, action_noise.options());
    const Tensor in_wz = in_w.narrow(1, 0, z_dim), in_wa = in_w.narrow(1, z_dim, a_dim);
    const auto noise = action_noise.unbind(0);
    auto step_grads = [&](int i) {
      return grads[i].defined() ? grads[i].unbind(0) : std::vector<Tensor>{};
    };
    const auto g_deter = step_grads(0), g_stoch = step_grads(1), g_entropy = step_grads(3);
    auto ln_backward = [](const Tensor& grad_out, const Tensor& gain, const Tensor& pre, int64_t n,
                          const Tensor& mean, const Tensor& rstd) {
      return std::get<0>(at::native_layer_norm_backward(grad_out * gain, pre, {n}, mean, rstd, {},
                                                        {}, {true, false, false}));
    };
    std::vector<Tensor> d_o(horizon), d_a2(horizon), d_a2pre(horizon), d_a1(horizon),
        d_a1pre(horizon);
    // Gradients into h_{k+1} and z_{k+1}: the outputs', then what later steps send back.
    Tensor dh = g_deter.empty() ? Tensor() : g_deter[horizon];
    Tensor dz = g_stoch.empty() ? Tensor() : g_stoch[horizon];
    for (int64_t k = horizon - 1; k >= 0; --k) {
      const Tensor& sm = s[kSm][k];
      if (!dh.defined()) dh = torch::zeros({starts, d}, sm.options());
      if (dz.defined()) {  // z_{k+1} (straight-through) -> the prior's logits -> h_{k+1}
        const Tensor dl = mixed_softmax_backward(dz, sm, keep_p);
        const Tensor dpa = at::silu_backward(dl.mm(prior_w2), s[kPA][k]);
        dh = dh + ln_backward(dpa, prior_g1, s[kPPre][k], p_hidden, s[kPMean][k], s[kPRstd][k])
                      .mm(prior_w1);
      }
      // GRU.
      const auto gru =
          gru_step_backward(dh, s[kHk][k], {{}, s[kRz][k], s[kN][k], s[kGhn][k]}, w_hh);
      const Tensor &dgi = gru.dgi, &dhk = gru.dh;
      // img_in -> z_k and the action.
      const Tensor dia = at::silu_backward(dgi.mm(w_ih), s[kIA][k]);
      const Tensor dipre =
          ln_backward(dia, in_g, s[kIPre][k], in_hidden, s[kIMean][k], s[kIRstd][k]);
      const Tensor dzk = dipre.mm(in_wz), dact = dipre.mm(in_wa);
      // The action -> the actor's output (mean and std; std also through the entropy).
      const Tensor du = at::tanh_backward(dact, s[kAct][k]);
      Tensor dstd = du * noise[k];
      if (!g_entropy.empty()) dstd = torch::addcdiv(dstd, g_entropy[k].unsqueeze(-1), s[kStd][k]);
      d_o[k] = torch::cat(
          {at::tanh_backward(du, s[kTm][k]), at::sigmoid_backward(dstd * c_std_scale, s[kSg][k])},
          1);
      d_a2[k] = at::silu_backward(d_o[k].mm(actor_w3), s[kA2][k]);
      d_a2pre[k] =
          ln_backward(d_a2[k], actor_g2, s[kA2Pre][k], hidden, s[kA2Mean][k], s[kA2Rstd][k]);
      d_a1[k] = at::silu_backward(d_a2pre[k].mm(actor_w2), s[kA1][k]);
      d_a1pre[k] =
          ln_backward(d_a1[k], actor_g1, s[kA1Pre][k], hidden, s[kA1Mean][k], s[kA1Rstd][k]);
      // Into h_k and z_k, for the step before.
      dh = g_deter.empty() ? dhk : dhk + g_deter[k];
      dz = g_stoch.empty() ? dzk : dzk + g_stoch[k];
    }
    // The actor's weight gradients, one product each over every step and start.
    const Tensor DO = rows(torch::stack(d_o, 0)), DA2 = rows(torch::stack(d_a2, 0)),
                 DA2P = rows(torch::stack(d_a2pre, 0)), DA1 = rows(torch::stack(d_a1, 0)),
                 DA1P = rows(torch::stack(d_a1pre, 0));
    auto stacked = [&](Saved slot) { return rows(torch::stack(s[slot], 0)); };
    variable_list out(30);
    out[5] = torch::cat({DA1P.t().mm(stacked(kHk)), DA1P.t().mm(stacked(kZk))}, 1);
    out[6] = (DA1 * stacked(kA1Xhat)).sum(0);
    out[7] = DA1.sum(0);
    out[8] = DA2P.t().mm(stacked(kX1));
    out[9] = (DA2 * stacked(kA2Xhat)).sum(0);
    out[10] = DA2.sum(0);
    out[11] = DO.t().mm(stacked(kX2));
    out[12] = DO.sum(0);
    return out;
  }
};

}  // namespace

ImagineOutput imagine_scan(const torch::Tensor& deter0, const torch::Tensor& stoch0,
                           const torch::Tensor& index0, const torch::Tensor& action_noise,
                           const torch::Tensor& latent_u, const ImagineWeights& w,
                           std::int64_t groups, std::int64_t classes, double unimix, double eps) {
  const auto out = ImagineScan::apply(
      deter0, stoch0, index0, action_noise, latent_u, w.actor_w1, w.actor_g1, w.actor_b1,
      w.actor_w2, w.actor_g2, w.actor_b2, w.actor_w3, w.actor_b3, w.in_w, w.in_g, w.in_b, w.w_ih,
      w.w_hh, w.b_ih, w.b_hh, w.prior_w1, w.prior_g1, w.prior_b1, w.prior_w2, w.prior_b2, groups,
      classes, unimix, eps, torch::GradMode::is_enabled() && w.actor_w1.requires_grad());
  return {out[0], out[1], out[2], out[3], out[4]};
}

}  // namespace simlab::learners::detail
