// ONNX export (opset 13), written node by node with ONNX's protobuf classes (libonnx-dev). The
// graph is guarded_action() of learners/policy.h:
//
//   obs, prev_action -> IsNaN|IsInf -> row flags (Cast, ReduceMax) -> flag [B]
//   obs (non-finite read 0) -> Sub mean, Div std, Clip +-10 -> 3 x Gemm (2 Tanh) -> Min/Max limits
//   -> Where(flag, safe) -> Min/Max prev +- max_delta -> Min/Max limits -> action [B, act_dim]
#include <fstream>
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
  b.input("obs", policy.obs_dim());
  b.input("prev_action", policy.act_dim());

  torch::NoGradGuard no_grad;
  const auto params = policy.model->pi->named_parameters();
  for (int layer = 0; layer < 3; ++layer) {
    const std::string i = std::to_string(2 * layer);
    b.constant("w" + std::to_string(layer), params[i + ".weight"]);
    b.constant("b" + std::to_string(layer), params[i + ".bias"]);
  }
  b.constant("obs_mean", policy.norm_mean());
  b.constant("obs_std", policy.norm_std());
  b.constant("act_low", g.low);
  b.constant("act_high", g.high);
  b.constant("max_delta", g.max_delta);
  b.constant("safe_action", g.safe_action);
  b.constant("zero", torch::zeros({}));
  b.constant("clip_low", torch::full({}, -10.0f));
  b.constant("clip_high", torch::full({}, 10.0f));
  b.constant_int64("axis1", {1});

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

  // Limits, the safe action, the rate bound, the limits again.
  b.node("Min", {h, "act_high"}, "mean_below");
  b.node("Max", {"mean_below", "act_low"}, "mean_clamped");
  b.node("Where", {"flag_col", "safe_action", "mean_clamped"}, "proposed");
  b.node("Add", {"prev", "max_delta"}, "rate_high");
  b.node("Sub", {"prev", "max_delta"}, "rate_low");
  b.node("Min", {"proposed", "rate_high"}, "rate_below");
  b.node("Max", {"rate_below", "rate_low"}, "rate_bounded");
  b.node("Min", {"rate_bounded", "act_high"}, "action_below");
  b.node("Max", {"action_below", "act_low"}, "action");
  b.output("action", onnx::TensorProto::FLOAT, {policy.act_dim()});
  b.output("flag", onnx::TensorProto::BOOL, {});

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    SIMLAB_CHECK(false) << "the ONNX graph fails ONNX's checker: " << e.what();
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out))
    throw Error(SourceLocation{.field = "--out"}, "cannot write " + file.string());
}

}  // namespace simlab::learners
