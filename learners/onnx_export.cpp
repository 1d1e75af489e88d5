// ONNX export (opset 13), written node by node with ONNX's protobuf classes (libonnx-dev). A PPO
// policy's graph is guarded_action() of learners/policy.h:
//
//   obs, prev_action -> IsNaN|IsInf -> row flags (Cast, ReduceMax) -> flag [B]
//   obs (non-finite read 0) -> Sub mean, Div std, Clip +-10 -> 3 x Gemm (2 Tanh) -> Min/Max limits
//   -> Where(flag, safe) -> Min/Max prev +- max_delta -> Min/Max limits -> action [B, act_dim]
//
// A dreamer policy's is guarded_recurrent_action(), with the layers decomposed into plain ops:
//   symlog      Sign(x) * Log(1 + Abs(x))
//   layer       MatMul(x, W^T) -> LayerNorm (ReduceMean, Sub, Mul, Sqrt, Div, gamma, beta)
//               -> SiLU (x * Sigmoid(x))
//   GRU cell    PyTorch's gates r, z, n: r = Sigmoid(Gemm(x, W_ir) + Gemm(h, W_hr)), z likewise,
//               n = Tanh(Gemm(x, W_in) + r * Gemm(h, W_hn)), h' = (1 - z) * n + z * h
//   mode        Reshape to [B, stoch, classes], Equal(logits, ReduceMax(logits)) cast to float
//   state       Slice into deter, stoch, started; next_state = Concat(h, z, 1), Where(flag, state)
#include <array>
#include <fstream>
#include <map>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "engine/core/error.h"
#include "learners/export.h"

namespace simlab::learners {
namespace fs = std::filesystem;
namespace {

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  // A float32 initializer of `t`'s shape and values.
  std::string constant(const std::string& name, const torch::Tensor& t) {
    const auto c = t.to(torch::kFloat32).contiguous();
    auto* init = graph_->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : c.sizes())
      init->add_dims(d);
    init->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()),
                                   static_cast<std::size_t>(c.numel()) * sizeof(float)));
    return name;
  }
  std::string constant_int64(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* init = graph_->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values)
      init->add_int64_data(v);
    return name;
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(output);
    for (const auto& in : inputs)
      n->add_input(in);
    n->add_output(output);
    return n;
  }
  static void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name,
                        const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v)
      a->add_ints(x);
  }

  static void value_info(onnx::ValueInfoProto* v, const std::string& name, int elem_type,
                         const std::vector<std::int64_t>& dims) {
    v->set_name(name);
    auto* tensor = v->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(elem_type);
    auto* shape = tensor->mutable_shape();
    shape->add_dim()->set_dim_param("B");
    for (auto d : dims)
      shape->add_dim()->set_dim_value(d);
  }
  void input(const std::string& name, std::int64_t dim) {
    value_info(graph_->add_input(), name, onnx::TensorProto::FLOAT, {dim});
  }
  void output(const std::string& name, int elem_type, const std::vector<std::int64_t>& dims) {
    value_info(graph_->add_output(), name, elem_type, dims);
  }

 private:
  onnx::GraphProto* graph_;
};

// Row flags of non-finite elements: bad [B, D] bool and any [B] float (1 where a row has one).
std::pair<std::string, std::string> non_finite(GraphBuilder& b, const std::string& x) {
  b.node("IsNaN", {x}, x + "_nan");
  b.node("IsInf", {x}, x + "_inf");
  b.node("Or", {x + "_nan", x + "_inf"}, x + "_bad");
  GraphBuilder::attr_int(b.node("Cast", {x + "_bad"}, x + "_bad_f"), "to",
                         onnx::TensorProto::FLOAT);
  auto* reduce = b.node("ReduceMax", {x + "_bad_f"}, x + "_row_bad");
  GraphBuilder::attr_ints(reduce, "axes", {1});
  GraphBuilder::attr_int(reduce, "keepdims", 0);
  return {x + "_bad", x + "_row_bad"};
}

// The guardrails' constants, shared by both graphs.
void guardrail_constants(GraphBuilder& b, const Guardrails& g) {
  b.constant("act_low", g.low);
  b.constant("act_high", g.high);
  b.constant("max_delta", g.max_delta);
  b.constant("safe_action", g.safe_action);
  b.constant("zero", torch::zeros({}));
  b.constant_int64("axis1", {1});
}

// From the policy's action `raw` to "action": the limits, the safe action on flagged rows, the
// rate bound around "prev", the limits again.
void guardrail_tail(GraphBuilder& b, const std::string& raw) {
  b.node("Min", {raw, "act_high"}, "mean_below");
  b.node("Max", {"mean_below", "act_low"}, "mean_clamped");
  b.node("Where", {"flag_col", "safe_action", "mean_clamped"}, "proposed");
  b.node("Add", {"prev", "max_delta"}, "rate_high");
  b.node("Sub", {"prev", "max_delta"}, "rate_low");
  b.node("Min", {"proposed", "rate_high"}, "rate_below");
  b.node("Max", {"rate_below", "rate_low"}, "rate_bounded");
  b.node("Min", {"rate_bounded", "act_high"}, "action_below");
  b.node("Max", {"action_below", "act_low"}, "action");
}

void feedforward_graph(GraphBuilder& b, const TrainedPolicy& policy, const Guardrails& g);
void recurrent_graph(GraphBuilder& b, const TrainedPolicy& policy, const Guardrails& g);

}  // namespace

bool onnx_available() {
  return true;
}

void write_onnx(const TrainedPolicy& policy, const Guardrails& g, const std::string& card_json,
                const fs::path& file) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("simlab");
  model.set_doc_string(
      "forward(obs [B, obs_dim], prev_action [B, act_dim]) -> (action [B, act_dim], flag [B]): "
      "see the policy card (metadata 'policy_card')");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* meta = model.add_metadata_props();
  meta->set_key("policy_card");
  meta->set_value(card_json);

  auto* graph = model.mutable_graph();
  graph->set_name("simlab_policy");
  GraphBuilder b(graph);
  torch::NoGradGuard no_grad;
  if (policy.recurrent()) {
    model.set_doc_string(
        "forward(obs [B, obs_dim], prev_action [B, act_dim], state [B, state_dim]) -> (action "
        "[B, act_dim], flag [B], next_state [B, state_dim]); the initial state is zeros: see the "
        "policy card (metadata 'policy_card')");
    recurrent_graph(b, policy, g);
  } else {
    feedforward_graph(b, policy, g);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    SIMLAB_CHECK(false) << "the ONNX graph fails ONNX's checker: " << e.what();
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out))
    throw Error(SourceLocation{.field = "out"}, "cannot write " + file.string());
}

namespace {

void feedforward_graph(GraphBuilder& b, const TrainedPolicy& policy, const Guardrails& g) {
  b.input("obs", policy.obs_dim());
  b.input("prev_action", policy.act_dim());
  const auto params = policy.model->pi->named_parameters();
  for (int layer = 0; layer < 3; ++layer) {
    const std::string i = std::to_string(2 * layer);
    b.constant(std::string{'w', static_cast<char>('0' + layer)}, params[i + ".weight"]);
    b.constant(std::string{'b', static_cast<char>('0' + layer)}, params[i + ".bias"]);
  }
  b.constant("obs_mean", policy.norm_mean());
  b.constant("obs_std", policy.norm_std());
  guardrail_constants(b, g);
  b.constant("clip_low", torch::full({}, -10.0f));
  b.constant("clip_high", torch::full({}, 10.0f));

  // Flags.
  const auto [obs_bad, obs_row] = non_finite(b, "obs");
  const auto [prev_bad, prev_row] = non_finite(b, "prev_action");
  b.node("Max", {obs_row, prev_row}, "row_bad");
  GraphBuilder::attr_int(b.node("Cast", {"row_bad"}, "flag"), "to", onnx::TensorProto::BOOL);
  b.node("Unsqueeze", {"flag", "axis1"}, "flag_col");
  b.node("Where", {obs_bad, "zero", "obs"}, "obs_clean");
  b.node("Where", {prev_bad, "safe_action", "prev_action"}, "prev");

  // Normalizer and the policy's mean.
  b.node("Sub", {"obs_clean", "obs_mean"}, "centered");
  b.node("Div", {"centered", "obs_std"}, "scaled");
  b.node("Clip", {"scaled", "clip_low", "clip_high"}, "z");
  std::string h = "z";
  for (int layer = 0; layer < 3; ++layer) {
    const std::string l = std::to_string(layer);
    GraphBuilder::attr_int(b.node("Gemm", {h, "w" + l, "b" + l}, "linear" + l), "transB", 1);
    h = "linear" + l;
    if (layer < 2) {
      b.node("Tanh", {h}, "tanh" + l);
      h = "tanh" + l;
    }
  }

  guardrail_tail(b, h);
  b.output("action", onnx::TensorProto::FLOAT, {policy.act_dim()});
  b.output("flag", onnx::TensorProto::BOOL, {});
}

// Linear (no bias) -> LayerNorm (eps 1e-3) -> SiLU, as learners/dreamer.cpp's mlp() layers.
std::string layer(GraphBuilder& b, const std::string& x, const std::string& name) {
  const std::string p = name + "_";
  b.node("MatMul", {x, name + "_wt"}, p + "lin");
  auto* mean = b.node("ReduceMean", {p + "lin"}, p + "mean");
  GraphBuilder::attr_ints(mean, "axes", {-1});
  b.node("Sub", {p + "lin", p + "mean"}, p + "centered");
  b.node("Mul", {p + "centered", p + "centered"}, p + "square");
  auto* var = b.node("ReduceMean", {p + "square"}, p + "var");
  GraphBuilder::attr_ints(var, "axes", {-1});
  b.node("Add", {p + "var", "ln_eps"}, p + "var_eps");
  b.node("Sqrt", {p + "var_eps"}, p + "std");
  b.node("Div", {p + "centered", p + "std"}, p + "normed");
  b.node("Mul", {p + "normed", name + "_g"}, p + "scaled");
  b.node("Add", {p + "scaled", name + "_b"}, p + "ln");
  b.node("Sigmoid", {p + "ln"}, p + "sigmoid");
  b.node("Mul", {p + "ln", p + "sigmoid"}, p + "out");
  return p + "out";
}

void recurrent_graph(GraphBuilder& b, const TrainedPolicy& policy, const Guardrails& g) {
  const int d = policy.deter_dim(), z = policy.stoch_dim(), s = policy.state_dim();
  const int a = policy.act_dim();
  b.input("obs", policy.obs_dim());
  b.input("prev_action", a);
  b.input("state", s);

  // Weights: MatMul takes W^T; the GRU's stacked [r, z, n] rows are split into one Gemm each.
  std::map<std::string, torch::Tensor> w;
  for (const auto& [name, t] : dreamer_tensors(policy))
    w[name] = t;
  const std::vector<std::array<std::string, 4>> layers = {
      {"enc0", "enc_w0", "enc_g0", "enc_b0"}, {"enc1", "enc_w1", "enc_g1", "enc_b1"},
      {"img", "img_w", "img_g", "img_b"},     {"post0", "post_w0", "post_g0", "post_b0"},
      {"pi0", "pi_w0", "pi_g0", "pi_b0"},     {"pi1", "pi_w1", "pi_g1", "pi_b1"}};
  for (const auto& [name, weight, gamma, beta] : layers) {
    b.constant(name + "_wt", w.at(weight).t().contiguous());
    b.constant(name + "_g", w.at(gamma));
    b.constant(name + "_b", w.at(beta));
  }
  const char* gates[3] = {"r", "z", "n"};
  for (int k = 0; k < 3; ++k) {
    const std::string gate = gates[k];
    b.constant("gru_w_i" + gate, w.at("gru_w_ih").slice(0, k * d, (k + 1) * d));
    b.constant("gru_w_h" + gate, w.at("gru_w_hh").slice(0, k * d, (k + 1) * d));
    b.constant("gru_b_i" + gate, w.at("gru_b_ih").slice(0, k * d, (k + 1) * d));
    b.constant("gru_b_h" + gate, w.at("gru_b_hh").slice(0, k * d, (k + 1) * d));
  }
  b.constant("post_w1", w.at("post_w1"));
  b.constant("post_b1", w.at("post_b1"));
  b.constant("pi_w2", w.at("pi_w2").slice(0, 0, a));  // the mean's rows (the std's are unused)
  b.constant("pi_b2", w.at("pi_b2").slice(0, 0, a));
  guardrail_constants(b, g);
  b.constant("act_range", g.high - g.low);
  b.constant("one", torch::ones({}));
  b.constant("minus_one", torch::full({}, -1.0f));
  b.constant("two", torch::full({}, 2.0f));
  b.constant("half", torch::full({}, 0.5f));
  b.constant("five", torch::full({}, 5.0f));
  b.constant("ln_eps", torch::full({}, 1e-3f));
  b.constant_int64("deter_begin", {0});
  b.constant_int64("deter_end", {d});
  b.constant_int64("stoch_end", {d + z});
  b.constant_int64("state_end", {s});
  b.constant_int64("groups_shape", {-1, policy.dreamer.stoch, policy.dreamer.classes});
  b.constant_int64("stoch_shape", {-1, z});

  // Flags; non-finite inputs replaced (a non-finite state row by the initial state).
  const auto [obs_bad, obs_row] = non_finite(b, "obs");
  const auto [prev_bad, prev_row] = non_finite(b, "prev_action");
  const auto [state_bad, state_row] = non_finite(b, "state");
  b.node("Max", {obs_row, prev_row}, "input_bad");
  b.node("Max", {"input_bad", state_row}, "row_bad");
  GraphBuilder::attr_int(b.node("Cast", {"row_bad"}, "flag"), "to", onnx::TensorProto::BOOL);
  b.node("Unsqueeze", {"flag", "axis1"}, "flag_col");
  GraphBuilder::attr_int(b.node("Cast", {state_row}, "state_row_bool"), "to",
                         onnx::TensorProto::BOOL);
  b.node("Unsqueeze", {"state_row_bool", "axis1"}, "state_bad_col");
  b.node("Where", {obs_bad, "zero", "obs"}, "obs_clean");
  b.node("Where", {prev_bad, "safe_action", "prev_action"}, "prev");
  b.node("Where", {"state_bad_col", "zero", "state"}, "state_clean");

  // The state's parts; started = 0 zeroes them and the action input (an episode's first step).
  b.node("Slice", {"state_clean", "deter_begin", "deter_end", "axis1"}, "deter_in");
  b.node("Slice", {"state_clean", "deter_end", "stoch_end", "axis1"}, "stoch_in");
  b.node("Slice", {"state_clean", "stoch_end", "state_end", "axis1"}, "started");
  b.node("Mul", {"deter_in", "started"}, "deter");
  b.node("Mul", {"stoch_in", "started"}, "stoch");
  b.node("Sub", {"prev", "act_low"}, "prev_offset");
  b.node("Mul", {"two", "prev_offset"}, "prev_offset2");
  b.node("Div", {"prev_offset2", "act_range"}, "prev_unit1");
  b.node("Sub", {"prev_unit1", "one"}, "prev_unit0");
  b.node("Clip", {"prev_unit0", "minus_one", "one"}, "prev_unit");
  b.node("Mul", {"prev_unit", "started"}, "action_in");

  // Encoder on symlog(obs).
  b.node("Abs", {"obs_clean"}, "obs_abs");
  b.node("Add", {"obs_abs", "one"}, "obs_abs1");
  b.node("Log", {"obs_abs1"}, "obs_log");
  b.node("Sign", {"obs_clean"}, "obs_sign");
  b.node("Mul", {"obs_sign", "obs_log"}, "symlog");
  const auto embed = layer(b, layer(b, "symlog", "enc0"), "enc1");

  // GRU step from [z, a].
  GraphBuilder::attr_int(b.node("Concat", {"stoch", "action_in"}, "img_x"), "axis", 1);
  const auto x = layer(b, "img_x", "img");
  for (const std::string gate : {"r", "z", "n"}) {
    GraphBuilder::attr_int(b.node("Gemm", {x, "gru_w_i" + gate, "gru_b_i" + gate}, "gru_x" + gate),
                           "transB", 1);
    GraphBuilder::attr_int(
        b.node("Gemm", {"deter", "gru_w_h" + gate, "gru_b_h" + gate}, "gru_h" + gate), "transB", 1);
  }
  b.node("Add", {"gru_xr", "gru_hr"}, "gru_r_pre");
  b.node("Sigmoid", {"gru_r_pre"}, "gru_r");
  b.node("Add", {"gru_xz", "gru_hz"}, "gru_z_pre");
  b.node("Sigmoid", {"gru_z_pre"}, "gru_z");
  b.node("Mul", {"gru_r", "gru_hn"}, "gru_rhn");
  b.node("Add", {"gru_xn", "gru_rhn"}, "gru_n_pre");
  b.node("Tanh", {"gru_n_pre"}, "gru_n");
  b.node("Sub", {"one", "gru_z"}, "gru_keep");
  b.node("Mul", {"gru_keep", "gru_n"}, "gru_new");
  b.node("Mul", {"gru_z", "deter"}, "gru_old");
  b.node("Add", {"gru_new", "gru_old"}, "h");

  // The posterior's mode: the one-hot of each group's largest logit.
  GraphBuilder::attr_int(b.node("Concat", {"h", embed}, "post_x"), "axis", 1);
  GraphBuilder::attr_int(
      b.node("Gemm", {layer(b, "post_x", "post0"), "post_w1", "post_b1"}, "logits"), "transB", 1);
  b.node("Reshape", {"logits", "groups_shape"}, "logits_groups");
  auto* top = b.node("ReduceMax", {"logits_groups"}, "logits_max");
  GraphBuilder::attr_ints(top, "axes", {2});
  GraphBuilder::attr_int(top, "keepdims", 1);
  b.node("Equal", {"logits_groups", "logits_max"}, "is_mode");
  GraphBuilder::attr_int(b.node("Cast", {"is_mode"}, "mode_groups"), "to",
                         onnx::TensorProto::FLOAT);
  b.node("Reshape", {"mode_groups", "stoch_shape"}, "z");

  // The actor's mean, squashed and scaled to the limits.
  GraphBuilder::attr_int(b.node("Concat", {"h", "z"}, "feat"), "axis", 1);
  const auto f = layer(b, layer(b, "feat", "pi0"), "pi1");
  GraphBuilder::attr_int(b.node("Gemm", {f, "pi_w2", "pi_b2"}, "pi_out"), "transB", 1);
  b.node("Div", {"pi_out", "five"}, "pi_out5");
  b.node("Tanh", {"pi_out5"}, "pi_tanh5");
  b.node("Mul", {"five", "pi_tanh5"}, "pi_mean");
  b.node("Tanh", {"pi_mean"}, "unit_action");
  b.node("Add", {"unit_action", "one"}, "unit_action1");
  b.node("Mul", {"unit_action1", "half"}, "unit_action_half");
  b.node("Mul", {"unit_action_half", "act_range"}, "action_offset");
  b.node("Add", {"act_low", "action_offset"}, "action_raw");

  guardrail_tail(b, "action_raw");

  // The next state: [h, z, 1]; a flagged row keeps its (cleaned) state.
  b.node("Mul", {"started", "zero"}, "started_zero");
  b.node("Add", {"started_zero", "one"}, "ones");
  auto* cat = b.node("Concat", {"h", "z", "ones"}, "new_state");
  GraphBuilder::attr_int(cat, "axis", 1);
  b.node("Where", {"flag_col", "state_clean", "new_state"}, "next_state");

  b.output("action", onnx::TensorProto::FLOAT, {a});
  b.output("flag", onnx::TensorProto::BOOL, {});
  b.output("next_state", onnx::TensorProto::FLOAT, {s});
}

}  // namespace

}  // namespace simlab::learners
