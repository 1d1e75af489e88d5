// Policy export: a tiny PPO run exported as TorchScript and ONNX, each compared with the in-process
// policy over 1000 observations (ONNX through a small evaluator of the ops the exporter emits,
// reading the file back with ONNX's protobuf classes), the guardrails, Python loading both files,
// the policy card, evaluation, and bad input. A tiny dreamer run likewise: its recurrent export
// (forward(obs, prev_action, state) -> (action, flag, next_state)) against the in-process
// reference over 50 envs x 20 steps that carry their state, the guardrails and the `started`
// element, Python, the card and evaluation with per-episode states.
#include "learners/export.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/train.h"

#ifdef SIMLAB_HAS_ONNX
#include <onnx/onnx_pb.h>
#endif

#include "engine/core/error.h"
#include "learners/evaluate.h"
#include "learners/policy.h"
#include "learners/threads.h"
#include "learners/trainer.h"
#include "tests/support/cli.h"
#include "tests/support/errors.h"

namespace simlab::learners {
namespace {

// One compute thread, OpenBLAS's included: its spinning threads on a loaded machine (ctest -j) turn
// these tests' many small products into waits.
[[maybe_unused]] const bool kOneComputeThread = (set_compute_threads(1), true);

namespace fs = std::filesystem;

// Per process: CTest runs each test in its own process, possibly side by side.
const fs::path kRun = fs::temp_directory_path() / ("simlab_export_run_" + std::to_string(getpid()));
const fs::path kOut = fs::temp_directory_path() / ("simlab_export_out_" + std::to_string(getpid()));

class Export : public ::testing::Test {
 protected:
  // One tiny run and its export for the whole suite (about 2 s).
  static void SetUpTestSuite() {
    fs::remove_all(kRun);
    fs::remove_all(kOut);
    TrainConfig c;
    c.scene = "cartpole-balance";
    c.envs = 8;
    c.threads = 1;
    c.seed = 5;
    c.ppo.horizon = 32;
    c.ppo.epochs = 2;
    c.ppo.minibatches = 2;
    c.checkpoint_every = 2;
    c.steps = 8 * 32 * 4;
    c.out = kRun;
    c.device = DeviceChoice::kCpu;
    simlab::test::train(c);
    ExportOptions o;
    o.out = kOut;
    o.eval_episodes = 2;
    o.simlab_version = "test";
    result_ = new ExportResult(export_policy(kRun, o));
  }
  static void TearDownTestSuite() {
    delete result_;
    fs::remove_all(kRun);
    fs::remove_all(kOut);
  }

  // 1000 observations around what the normalizer saw (some beyond its +-10 clip), and previous
  // actions across the limits.
  static std::pair<torch::Tensor, torch::Tensor> inputs(TrainedPolicy& p, int n = 1000) {
    torch::manual_seed(11);
    auto obs = p.norm_mean() + p.norm_std() * torch::randn({n, p.obs_dim()}) * 4;
    auto prev = p.low + (p.high - p.low) * torch::rand({n, p.act_dim()});
    return {obs, prev};
  }

  static ExportResult* result_;
};
ExportResult* Export::result_ = nullptr;

TEST_F(Export, TorchScriptMatchesTheInProcessPolicy) {
  auto policy = load_trained_policy(kRun);
  const auto guard = make_guardrails(policy, 0.5);
  auto module = torch::jit::load((kOut / "policy.pt").string());
  const auto [obs, prev] = inputs(policy);
  const auto out = module.forward({obs, prev}).toTuple();
  const auto action = out->elements()[0].toTensor(), flag = out->elements()[1].toTensor();
  const auto [want, want_flag] = guarded_action(policy, guard, obs, prev);
  const double diff = (action - want).abs().max().item<double>();
  std::printf("TorchScript vs in-process: max abs difference %.3g over 1000 observations\n", diff);
  EXPECT_LE(diff, 1e-5);
  EXPECT_TRUE(torch::equal(flag, want_flag));
  EXPECT_EQ(flag.sum().item<int>(), 0);

  // Without a rate bound the module is the in-process policy itself.
  auto free = build_torchscript(policy, make_guardrails(policy, 0), "");
  const auto raw = free.forward({obs, prev}).toTuple()->elements()[0].toTensor();
  EXPECT_LE((raw - policy.act(obs)).abs().max().item<double>(), 1e-5);
  // The card travels inside the module too.
  EXPECT_EQ(nlohmann::json::parse(module.attr("policy_card").toStringRef())["format"],
            "simlab-policy-card/1");
}

TEST_F(Export, GuardrailsClampBoundTheRateAndCatchNonFiniteInput) {
  auto policy = load_trained_policy(kRun);
  const auto guard = make_guardrails(policy, 0.1);
  auto module = build_torchscript(policy, guard, "");
  auto [obs, prev] = inputs(policy, 64);
  // Push the policy's outputs to the limits: huge observations, then check every bound.
  obs = obs * 1000;
  obs[3][0] = NAN;
  obs[4][1] = INFINITY;
  prev[5][0] = -INFINITY;
  prev[6][0] = 7.0f;  // outside the limits: the limits win
  const auto out = module.forward({obs, prev}).toTuple();
  const auto a = out->elements()[0].toTensor(), flag = out->elements()[1].toTensor();
  ASSERT_EQ(flag.sizes(), (std::vector<std::int64_t>{64}));
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
  EXPECT_TRUE((a <= guard.high).all().item<bool>());
  EXPECT_TRUE((a >= guard.low).all().item<bool>());
  for (int i = 0; i < 64; ++i) {
    const bool bad = i >= 3 && i <= 5;
    EXPECT_EQ(flag[i].item<bool>(), bad) << "row " << i;
    const auto p = i == 5 ? guard.safe_action : prev[i];
    if (i != 6) {
      EXPECT_TRUE(((a[i] - p).abs() <= guard.max_delta + 1e-6).all().item<bool>()) << "row " << i;
    }
    if (bad) {  // the safe action (zero), approached from prev at most max_delta per step
      const auto want =
          torch::max(torch::min(guard.safe_action, p + guard.max_delta), p - guard.max_delta);
      EXPECT_LE((a[i] - want).abs().max().item<double>(), 1e-6) << "row " << i;
    }
  }
  EXPECT_EQ(a[6][0].item<float>(), guard.high[0].item<float>());
  // Repeated steps from a flagged state walk to the safe action.
  auto x = torch::full({1, policy.obs_dim()}, NAN);
  auto p = guard.high.unsqueeze(0).clone();
  for (int step = 0; step < 12; ++step)
    p = module.forward({x, p}).toTuple()->elements()[0].toTensor();
  EXPECT_LE((p[0] - guard.safe_action).abs().max().item<double>(), 1e-6);
}

#ifdef SIMLAB_HAS_ONNX
// A small ONNX evaluator for the ops the exporter writes: float tensors (bool and int64 kept as
// floats), numpy broadcasting.
struct T {
  std::vector<std::int64_t> shape;
  std::vector<float> v;
};

std::vector<std::int64_t> broadcast(std::vector<std::int64_t> a, std::vector<std::int64_t> b) {
  while (a.size() < b.size())
    a.insert(a.begin(), 1);
  while (b.size() < a.size())
    b.insert(b.begin(), 1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) throw std::runtime_error("bad broadcast");
    a[i] = std::max(a[i], b[i]);
  }
  return a;
}
float at(const T& t, const std::vector<std::int64_t>& shape, std::int64_t flat) {
  // The element of `t` that broadcasts to position `flat` of `shape`.
  std::int64_t index = 0, stride = 1;
  const std::size_t offset = shape.size() - t.shape.size();
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::int64_t coord = flat % shape[d];
    flat /= shape[d];
    if (d >= offset) {
      const auto size = t.shape[d - offset];
      index += (size == 1 ? 0 : coord) * stride;
      stride *= size;
    }
  }
  return t.v[static_cast<std::size_t>(index)];
}
std::int64_t count(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}
T elementwise(const std::vector<const T*>& in, const std::function<float(const float*)>& f) {
  std::vector<std::int64_t> shape;
  for (const auto* t : in)
    shape = broadcast(shape, t->shape);
  T out{shape, std::vector<float>(static_cast<std::size_t>(count(shape)))};
  std::vector<float> args(in.size());
  for (std::int64_t i = 0; i < count(shape); ++i) {
    for (std::size_t k = 0; k < in.size(); ++k)
      args[k] = at(*in[k], shape, i);
    out.v[static_cast<std::size_t>(i)] = f(args.data());
  }
  return out;
}

// Reduce over the last axis (the only one the exporter reduces over), keeping it as size 1 or
// dropping it.
T reduce_last(const T& in, int axis, bool keepdims, bool mean) {
  const int rank = static_cast<int>(in.shape.size());
  EXPECT_TRUE(axis == -1 || axis == rank - 1) << "reduction over axis " << axis;
  const auto inner = in.shape.back(), outer = count(in.shape) / inner;
  T out{in.shape, {}};
  if (keepdims)
    out.shape.back() = 1;
  else
    out.shape.pop_back();
  for (std::int64_t r = 0; r < outer; ++r) {
    const auto first = in.v.begin() + r * inner, last = first + inner;
    if (mean) {
      double sum = 0;
      for (auto it = first; it != last; ++it)
        sum += *it;
      out.v.push_back(static_cast<float>(sum / static_cast<double>(inner)));
    } else {
      out.v.push_back(*std::max_element(first, last));
    }
  }
  return out;
}

std::map<std::string, T> run_onnx(const onnx::ModelProto& model,
                                  const std::map<std::string, torch::Tensor>& inputs) {
  std::map<std::string, T> values;
  auto from_torch = [](const torch::Tensor& t) {
    const auto c = t.to(torch::kFloat32).contiguous();
    return T{c.sizes().vec(),
             std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
  };
  for (const auto& [name, t] : inputs)
    values[name] = from_torch(t);
  for (const auto& init : model.graph().initializer()) {
    T t{{init.dims().begin(), init.dims().end()}, {}};
    if (init.data_type() == onnx::TensorProto::FLOAT) {
      t.v.resize(init.raw_data().size() / sizeof(float));
      std::memcpy(t.v.data(), init.raw_data().data(), init.raw_data().size());
    } else {
      for (auto x : init.int64_data())
        t.v.push_back(static_cast<float>(x));
    }
    values[init.name()] = t;
  }
  auto attr = [](const onnx::NodeProto& n, const std::string& name, std::int64_t fallback) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return a.type() == onnx::AttributeProto::INTS ? a.ints(0) : a.i();
    return fallback;
  };
  for (const auto& n : model.graph().node()) {
    const std::string& op = n.op_type();
    std::vector<const T*> in;
    for (const auto& name : n.input())
      in.push_back(&values.at(name));
    T out;
    if (op == "IsNaN") {
      out = elementwise(in, [](const float* x) { return std::isnan(x[0]) ? 1.0f : 0.0f; });
    } else if (op == "IsInf") {
      out = elementwise(in, [](const float* x) { return std::isinf(x[0]) ? 1.0f : 0.0f; });
    } else if (op == "Or") {
      out = elementwise(in, [](const float* x) { return x[0] != 0 || x[1] != 0 ? 1.0f : 0.0f; });
    } else if (op == "Cast") {
      out = *in[0];
      if (attr(n, "to", 0) == onnx::TensorProto::BOOL)
        for (auto& x : out.v)
          x = x != 0 ? 1.0f : 0.0f;
    } else if (op == "ReduceMax" || op == "ReduceMean") {
      out = reduce_last(*in[0], static_cast<int>(attr(n, "axes", -1)), attr(n, "keepdims", 1) != 0,
                        op == "ReduceMean");
    } else if (op == "Unsqueeze") {
      EXPECT_EQ(in[1]->v.at(0), 1.0f);
      out = *in[0];
      out.shape.push_back(1);
    } else if (op == "Where") {
      out = elementwise(in, [](const float* x) { return x[0] != 0 ? x[1] : x[2]; });
    } else if (op == "Max") {
      out = elementwise(in, [](const float* x) { return std::max(x[0], x[1]); });
    } else if (op == "Min") {
      out = elementwise(in, [](const float* x) { return std::min(x[0], x[1]); });
    } else if (op == "Add") {
      out = elementwise(in, [](const float* x) { return x[0] + x[1]; });
    } else if (op == "Sub") {
      out = elementwise(in, [](const float* x) { return x[0] - x[1]; });
    } else if (op == "Div") {
      out = elementwise(in, [](const float* x) { return x[0] / x[1]; });
    } else if (op == "Clip") {
      out = elementwise(in, [](const float* x) { return std::min(std::max(x[0], x[1]), x[2]); });
    } else if (op == "Tanh") {
      out = elementwise(in, [](const float* x) { return std::tanh(x[0]); });
    } else if (op == "Mul") {
      out = elementwise(in, [](const float* x) { return x[0] * x[1]; });
    } else if (op == "Equal") {
      out = elementwise(in, [](const float* x) { return x[0] == x[1] ? 1.0f : 0.0f; });
    } else if (op == "Abs") {
      out = elementwise(in, [](const float* x) { return std::abs(x[0]); });
    } else if (op == "Sign") {
      out = elementwise(in, [](const float* x) {
        return x[0] > 0 ? 1.0f : x[0] < 0 ? -1.0f : 0.0f;
      });
    } else if (op == "Log") {
      out = elementwise(in, [](const float* x) { return std::log(x[0]); });
    } else if (op == "Sqrt") {
      out = elementwise(in, [](const float* x) { return std::sqrt(x[0]); });
    } else if (op == "Sigmoid") {
      out = elementwise(in, [](const float* x) { return 1.0f / (1.0f + std::exp(-x[0])); });
    } else if (op == "Slice") {
      // Columns [start, end) of a matrix (axes = [1]).
      EXPECT_EQ(in[3]->v.at(0), 1.0f);
      const auto rows = in[0]->shape[0], cols = in[0]->shape[1];
      const auto begin = static_cast<std::int64_t>(in[1]->v.at(0));
      const auto end = std::min(cols, static_cast<std::int64_t>(in[2]->v.at(0)));
      out.shape = {rows, end - begin};
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = begin; c < end; ++c)
          out.v.push_back(in[0]->v[r * cols + c]);
    } else if (op == "Concat") {
      // Matrices side by side (axis 1).
      EXPECT_EQ(attr(n, "axis", 0), 1);
      const auto rows = in[0]->shape[0];
      std::int64_t cols = 0;
      for (const auto* t : in)
        cols += t->shape[1];
      out.shape = {rows, cols};
      for (std::int64_t r = 0; r < rows; ++r)
        for (const auto* t : in)
          out.v.insert(out.v.end(), t->v.begin() + r * t->shape[1],
                       t->v.begin() + (r + 1) * t->shape[1]);
    } else if (op == "Reshape") {
      out = *in[0];
      out.shape.clear();
      std::int64_t known = 1, unknown = -1;
      for (float d : in[1]->v) {
        if (d < 0) unknown = static_cast<std::int64_t>(out.shape.size());
        out.shape.push_back(static_cast<std::int64_t>(d));
        if (d > 0) known *= static_cast<std::int64_t>(d);
      }
      if (unknown >= 0) out.shape[unknown] = static_cast<std::int64_t>(out.v.size()) / known;
      EXPECT_EQ(count(out.shape), static_cast<std::int64_t>(out.v.size()));
    } else if (op == "MatMul") {
      const auto &a = *in[0], &w = *in[1];  // [rows, inner] x [inner, cols]
      const auto rows = a.shape[0], inner = a.shape[1], cols = w.shape[1];
      out.shape = {rows, cols};
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          double sum = 0;
          for (std::int64_t k = 0; k < inner; ++k)
            sum += static_cast<double>(a.v[r * inner + k]) * w.v[k * cols + c];
          out.v.push_back(static_cast<float>(sum));
        }
    } else if (op == "Gemm") {
      EXPECT_EQ(attr(n, "transB", 0), 1);
      const auto &a = *in[0], &w = *in[1], &b = *in[2];
      const auto rows = a.shape[0], inner = a.shape[1], cols = w.shape[0];
      out.shape = {rows, cols};
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          double s = b.v[static_cast<std::size_t>(c)];
          for (std::int64_t k = 0; k < inner; ++k)
            s += static_cast<double>(a.v[r * inner + k]) * w.v[c * inner + k];
          out.v.push_back(static_cast<float>(s));
        }
    } else {
      ADD_FAILURE() << "the test evaluator has no op " << op;
      return values;
    }
    values[n.output(0)] = std::move(out);
  }
  return values;
}

onnx::ModelProto read_onnx(const fs::path& file) {
  onnx::ModelProto model;
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(model.ParseFromIstream(&in)) << file;
  return model;
}

TEST_F(Export, OnnxMatchesTheInProcessPolicy) {
  auto policy = load_trained_policy(kRun);
  const auto guard = make_guardrails(policy, 0.5);
  const auto model = read_onnx(kOut / "policy.onnx");
  ASSERT_EQ(model.opset_import(0).version(), 13);
  ASSERT_EQ(model.graph().output(0).name(), "action");
  ASSERT_EQ(model.graph().output(1).name(), "flag");
  EXPECT_EQ(model.metadata_props(0).key(), "policy_card");
  const auto [obs, prev] = inputs(policy);
  const auto values = run_onnx(model, {{"obs", obs}, {"prev_action", prev}});
  const auto& action = values.at("action");
  const auto& flag = values.at("flag");
  const auto [want, want_flag] = guarded_action(policy, guard, obs, prev);
  ASSERT_EQ(action.shape, want.sizes().vec());
  double diff = 0;
  for (std::int64_t i = 0; i < want.numel(); ++i)
    diff = std::max(
        diff, std::abs(static_cast<double>(action.v[i]) - want.reshape({-1})[i].item<double>()));
  std::printf("ONNX vs in-process: max abs difference %.3g over 1000 observations\n", diff);
  EXPECT_LE(diff, 1e-5);
  ASSERT_EQ(flag.shape, (std::vector<std::int64_t>{1000}));
  for (float f : flag.v)
    EXPECT_EQ(f, 0.0f);

  // The guardrails in ONNX: a NaN row is flagged and gets the rate-bounded safe action.
  auto bad = obs.slice(0, 0, 4).clone();
  bad[1][0] = NAN;
  auto bad_prev = prev.slice(0, 0, 4).clone();
  bad_prev[2][0] = INFINITY;
  const auto guarded = run_onnx(model, {{"obs", bad}, {"prev_action", bad_prev}});
  const auto [want_g, want_gf] = guarded_action(policy, guard, bad, bad_prev);
  EXPECT_EQ(guarded.at("flag").v, (std::vector<float>{0, 1, 1, 0}));
  for (std::int64_t i = 0; i < want_g.numel(); ++i)
    EXPECT_NEAR(guarded.at("action").v[i], want_g.reshape({-1})[i].item<float>(), 1e-5);
}
#endif

TEST_F(Export, PythonLoadsBothFormats) {
  const std::string check = "/usr/bin/python3 -c 'import torch, onnx' 2>&1";
  if (test::shell(check).code != 0) GTEST_SKIP() << "python3 with torch and onnx is missing";
  const std::string script =
      "import json, sys, torch, onnx\n"
      "m = torch.jit.load(sys.argv[1])\n"
      "card = json.load(open(sys.argv[3]))\n"
      "obs = torch.zeros(3, card['observation']['dim'])\n"
      "obs[1, 0] = float('nan')\n"
      "a, flag = m(obs, torch.zeros(3, card['action']['dim']))\n"
      "assert a.shape == (3, card['action']['dim']), a.shape\n"
      "assert flag.tolist() == [False, True, False], flag\n"
      "if sys.argv[2] != '-':\n"
      "    onnx.checker.check_model(onnx.load(sys.argv[2]), full_check=True)\n"
      "print('python ok')\n";
  const fs::path py = kOut / "check.py";
  std::ofstream(py) << script;
  const std::string onnx_file = onnx_available() ? (kOut / "policy.onnx").string() : "-";
  const auto r =
      test::shell("/usr/bin/python3 " + py.string() + " " + (kOut / "policy.pt").string() + " " +
                  onnx_file + " " + (kOut / "policy_card.json").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(test::contains(r.out, "python ok")) << r.out;
}

TEST_F(Export, TheCardDescribesTheContract) {
  std::ifstream in(kOut / "policy_card.json");
  const auto card = nlohmann::json::parse(in);
  EXPECT_EQ(card["simlab_version"], "test");
  EXPECT_EQ(card["observation"]["dim"], 4);
  EXPECT_EQ(card["observation"]["elements"][1]["name"], "joint_pos/hinge");
  EXPECT_EQ(card["observation"]["elements"][1]["unit"], "rad (hinge) or m (slide)");
  EXPECT_TRUE(card["observation"]["elements"][3]["std"].is_number());
  EXPECT_EQ(card["action"]["elements"][0]["name"], "ctrl/slide");
  EXPECT_EQ(card["action"]["elements"][0]["low"], -1.0);
  EXPECT_EQ(card["action"]["elements"][0]["max_delta"], 1.0);  // 0.5 of the range [-1, 1]
  EXPECT_EQ(card["action"]["control_hz"], 100.0);
  EXPECT_EQ(card["scene"]["name"], "cartpole-balance");
  EXPECT_EQ(card["scene"]["randomization"][0]["param"], "body_mass");
  EXPECT_EQ(card["scene"]["randomization"][0]["range"], nlohmann::json({0.8, 1.2}));
  EXPECT_EQ(card["training"]["seed"], 5);
  EXPECT_EQ(card["training"]["steps"], 1024);
  EXPECT_TRUE(card["training"]["final_mean_return"].is_number() ||
              card["training"]["final_mean_return"].is_null());
  EXPECT_EQ(card["evaluation"]["episodes"], 2);
  EXPECT_EQ(card["files"]["torchscript"], "policy.pt");
  std::printf("export took %.2f s (evaluation %.2f s)\n", result_->seconds, result_->eval_seconds);
}

TEST_F(Export, EvaluationReportsReturnsAndSafety) {
  auto policy = load_exported_policy(kOut / "policy.pt");
  EvalOptions o;
  o.episodes = 4;
  o.sweep = "body_mass:pole";
  o.sweep_png = kOut / "sweep.png";
  const auto r = evaluate_policy(policy, o);
  const auto& j = r.json;
  EXPECT_EQ(j["episodes"], 4);
  EXPECT_TRUE(j["return"]["mean"].is_number());
  EXPECT_EQ(j["return"]["ci95"].size(), 2u);
  EXPECT_TRUE(j["success_rate"].is_null());  // cartpole has no `near` term
  for (const char* key : {"joint_limit_share", "saturation_share", "unwanted_contacts_per_step",
                          "action_rate", "jerk", "guard_flags"})
    EXPECT_TRUE(j["safety"][key].is_number()) << key;
  EXPECT_LE(j["safety"]["max_action_change"].get<double>(), 1.0 + 1e-6);  // the rate bound
  EXPECT_EQ(j["per_episode"].size(), 4u);
  EXPECT_EQ(j["sweep"]["values"].size(), 4u);
  EXPECT_GT(fs::file_size(kOut / "sweep.png"), 1000u);
  EXPECT_TRUE(test::contains(r.markdown, "| mean return (95% interval) |"));
  // The same episodes again: the same returns.
  o.sweep.clear();
  EXPECT_EQ(evaluate_policy(policy, o).json["return"], j["return"]);
}

using test::error_of;

TEST_F(Export, BadInputIsNamed) {
  // A folder without a finished policy.
  const fs::path empty = kOut / "empty";
  fs::remove_all(empty);
  fs::create_directories(empty);
  EXPECT_TRUE(test::contains(error_of([&] { load_trained_policy(empty); }), "no config.json"));
  fs::copy_file(kRun / "config.json", empty / "config.json");
  EXPECT_TRUE(
      test::contains(error_of([&] { load_trained_policy(empty); }), "has no finished policy"));
  fs::copy_file(kRun / "checkpoint.pt", empty / "checkpoint.pt");
  auto config = nlohmann::json::parse(std::ifstream(empty / "config.json"));
  config["steps"] = 100000;
  std::ofstream(empty / "config.json") << config.dump();
  const auto unfinished = error_of([&] { load_trained_policy(empty); });
  EXPECT_TRUE(test::contains(unfinished, "1024 of 100000 env steps")) << unfinished;
  EXPECT_FALSE(load_trained_policy(empty, /*allow_unfinished=*/true).finished);
  fs::remove_all(empty);

  ExportOptions o;
  o.out = kOut / "bad";
  o.formats = {"tflite"};
  EXPECT_TRUE(test::contains(error_of([&] { export_policy(kRun, o); }), "format: 'tflite'"));

  // A card that does not match the scene names the field.
  auto policy = load_exported_policy(kOut / "policy.pt");
  EvalOptions e;
  e.episodes = 1;
  e.scene = "reacher";
  const auto other = error_of([&] { evaluate_policy(policy, e); });
  EXPECT_TRUE(test::contains(other, "observation.dim")) << other;
  e.scene = "";
  policy.card["observation"]["elements"][1]["name"] = "joint_pos/pole";
  const auto renamed = error_of([&] { evaluate_policy(policy, e); });
  EXPECT_TRUE(test::contains(renamed, "observation.elements[1].name")) << renamed;
  EXPECT_TRUE(test::contains(renamed, "'joint_pos/hinge'")) << renamed;
  policy.card["observation"]["elements"][1]["name"] = "joint_pos/hinge";
  // cartpole-balance declares held-out ranges; an unknown randomization is named.
  const auto wider = error_of([&] { scenes::parse_randomization("wider", "randomization"); });
  EXPECT_TRUE(test::contains(wider, "'wider'")) << wider;
  const auto engine = error_of([&] { engine::physics::parse_backend("bulet", "--backend"); });
  EXPECT_TRUE(test::contains(engine, "--backend")) << engine;
  EXPECT_TRUE(test::contains(engine, "expected mujoco or bullet")) << engine;
}

// Dreamer: the recurrent export. forward(obs, prev_action, state) -> (action, flag, next_state).
const fs::path kDreamerRun =
    fs::temp_directory_path() / ("simlab_export_dreamer_run_" + std::to_string(getpid()));
const fs::path kDreamerOut =
    fs::temp_directory_path() / ("simlab_export_dreamer_out_" + std::to_string(getpid()));

class DreamerExport : public ::testing::Test {
 protected:
  // A tiny dreamer run (it trains after an 80-step prefill) and its export (a few seconds).
  static void SetUpTestSuite() {
    fs::remove_all(kDreamerRun);
    fs::remove_all(kDreamerOut);
    TrainConfig c;
    c.scene = "cartpole-balance";
    c.algo = Algo::kDreamer;
    c.envs = 2;
    c.threads = 1;
    c.seed = 5;
    c.dreamer.deter = 32;
    c.dreamer.hidden = 32;
    c.dreamer.stoch = 4;
    c.dreamer.classes = 4;
    c.dreamer.batch = 8;
    c.dreamer.seq_len = 16;
    c.dreamer.horizon = 5;
    c.dreamer.imag_starts = 32;
    c.dreamer.chunk = 20;
    c.dreamer.prefill = 80;
    c.dreamer.train_ratio = 16;
    c.checkpoint_every = 3;
    c.steps = 6 * 20 * 2;
    c.out = kDreamerRun;
    c.device = DeviceChoice::kCpu;
    simlab::test::train(c);
    ExportOptions o;
    o.out = kDreamerOut;
    o.eval_episodes = 2;
    o.simlab_version = "test";
    result_ = new ExportResult(export_policy(kDreamerRun, o));
  }
  static void TearDownTestSuite() {
    delete result_;
    fs::remove_all(kDreamerRun);
    fs::remove_all(kDreamerOut);
  }

  // One step of a recurrent policy: (action, flag, next_state).
  using Step = std::function<GuardedStep(const torch::Tensor& obs, const torch::Tensor& prev,
                                         const torch::Tensor& state)>;
  struct Trajectory {
    std::vector<torch::Tensor> actions, states;
  };
  // 50 envs x 20 steps = 1000 observations, each env carrying its state and its previous action;
  // envs 0-9 start a new episode at step 10 (initial state, the safe action as prev).
  static Trajectory roll(TrainedPolicy& p, const Guardrails& g, const Step& step) {
    torch::manual_seed(13);
    const int envs = 50, steps = 20;
    const auto obs = torch::randn({steps, envs, p.obs_dim()}) * 1.5;
    auto state = p.initial_state(envs);
    auto prev = g.safe_action.expand({envs, p.act_dim()}).clone();
    Trajectory t;
    for (int k = 0; k < steps; ++k) {
      if (k == 10) {
        state.slice(0, 0, 10).zero_();
        prev.slice(0, 0, 10).copy_(g.safe_action.expand({10, p.act_dim()}));
      }
      auto out = step(obs[k], prev, state);
      EXPECT_EQ(out.flag.to(torch::kFloat32).sum().item<float>(), 0.0f) << "step " << k;
      t.actions.push_back(out.action);
      t.states.push_back(out.next_state);
      prev = out.action.clone();
      state = out.next_state.clone();
    }
    return t;
  }
  static std::pair<double, double> max_diff(const Trajectory& a, const Trajectory& b) {
    double da = 0, ds = 0;
    for (std::size_t k = 0; k < a.actions.size(); ++k) {
      da = std::max(da, (a.actions[k] - b.actions[k]).abs().max().item<double>());
      ds = std::max(ds, (a.states[k] - b.states[k]).abs().max().item<double>());
    }
    return {da, ds};
  }
  static GuardedStep module_step(torch::jit::Module& m, const torch::Tensor& obs,
                                 const torch::Tensor& prev, const torch::Tensor& state) {
    const auto out = m.forward({obs, prev, state}).toTuple();
    return {out->elements()[0].toTensor(), out->elements()[1].toTensor(),
            out->elements()[2].toTensor()};
  }

  static ExportResult* result_;
};
ExportResult* DreamerExport::result_ = nullptr;

TEST_F(DreamerExport, TorchScriptMatchesTheInProcessPolicyOverASequence) {
  auto policy = load_trained_policy(kDreamerRun);
  ASSERT_TRUE(policy.recurrent());
  EXPECT_GT(policy.updates, 0);  // it trained after the prefill
  const auto guard = make_guardrails(policy, 0.5);
  const auto want = roll(policy, guard, [&](const auto& o, const auto& p, const auto& s) {
    return guarded_recurrent_action(policy, guard, o, p, s);
  });
  auto module = torch::jit::load((kDreamerOut / "policy.pt").string());
  EXPECT_EQ(module.attr("state_dim").toInt(), 32 + 4 * 4 + 1);
  const auto initial = module.get_method("initial_state")({int64_t{3}}).toTensor();
  EXPECT_TRUE(torch::equal(initial, torch::zeros({3, 49})));
  const auto got = roll(policy, guard, [&](const auto& o, const auto& p, const auto& s) {
    return module_step(module, o, p, s);
  });
  const auto [da, ds] = max_diff(got, want);
  std::printf(
      "dreamer TorchScript vs in-process: max abs difference %.3g (actions), %.3g "
      "(states) over 50 envs x 20 steps\n",
      da, ds);
  EXPECT_LE(da, 1e-5);
  EXPECT_LE(ds, 1e-5);
  // The sequence moved: the latent changes and the actions differ between envs.
  EXPECT_GT(want.actions.back().std().item<double>(), 0);
  EXPECT_FALSE(torch::equal(want.states[3], want.states[4]));
  // z is one-hot per group (the reference's straight-through (one_hot + p) - p is within float
  // rounding of it; the exported models' is exact).
  const auto z = want.states.back().slice(1, 32, 48).reshape({50, 4, 4});
  EXPECT_TRUE(torch::allclose(z.sum(-1), torch::ones({50, 4}), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(z.amax(-1), torch::ones({50, 4}), 0, 1e-6));
  const auto exported = got.states.back().slice(1, 32, 48);
  EXPECT_TRUE(torch::equal(exported, (exported > 0.5).to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(want.states.back().select(1, 48), torch::ones({50})));
}

TEST_F(DreamerExport, GuardrailsAndTheStartedElement) {
  auto policy = load_trained_policy(kDreamerRun);
  const auto guard = make_guardrails(policy, 0.1);
  auto module = build_torchscript(policy, guard, "");
  torch::manual_seed(3);
  const int n = 8;
  auto obs = torch::randn({n, policy.obs_dim()}) * 50;  // large inputs push actions to the limits
  auto prev = policy.low + (policy.high - policy.low) * torch::rand({n, policy.act_dim()});
  auto state = module_step(module, obs, prev, policy.initial_state(n)).next_state;
  ASSERT_EQ(state.sizes(), (std::vector<std::int64_t>{n, 49}));
  obs[1][0] = NAN;
  prev[2][0] = INFINITY;
  state[3][5] = NAN;
  prev[4][0] = 7.0f;  // outside the limits: the limits win
  const auto out = module_step(module, obs, prev, state);
  const auto want = guarded_recurrent_action(policy, guard, obs, prev, state);
  EXPECT_TRUE(torch::equal(out.flag, want.flag));
  EXPECT_LE((out.action - want.action).abs().max().item<double>(), 1e-5);
  EXPECT_LE((out.next_state - want.next_state).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(torch::isfinite(out.action).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(out.next_state).all().item<bool>());
  EXPECT_TRUE((out.action <= guard.high).all().item<bool>());
  EXPECT_TRUE((out.action >= guard.low).all().item<bool>());
  for (int i = 0; i < n; ++i) {
    const bool bad = i >= 1 && i <= 3;
    EXPECT_EQ(out.flag[i].item<bool>(), bad) << "row " << i;
    const auto p = i == 2 ? guard.safe_action : prev[i];
    if (i != 4) {
      EXPECT_TRUE(((out.action[i] - p).abs() <= guard.max_delta + 1e-6).all().item<bool>())
          << "row " << i;
    }
    if (bad) {
      const auto safe =
          torch::max(torch::min(guard.safe_action, p + guard.max_delta), p - guard.max_delta);
      EXPECT_LE((out.action[i] - safe).abs().max().item<double>(), 1e-6) << "row " << i;
    }
  }
  EXPECT_EQ(out.action[4][0].item<float>(), guard.high[0].item<float>());
  // A flagged row keeps its state; a non-finite state falls back to the initial state.
  EXPECT_TRUE(torch::equal(out.next_state[1], state[1]));
  EXPECT_TRUE(torch::equal(out.next_state[2], state[2]));
  EXPECT_TRUE(torch::equal(out.next_state[3], torch::zeros({49})));
  EXPECT_FALSE(torch::equal(out.next_state[0], state[0]));

  // started = 0 (the initial state): the previous action does not reach the world model.
  auto free = build_torchscript(policy, make_guardrails(policy, 0), "");
  const auto x = torch::randn({4, policy.obs_dim()});
  const auto zeros = policy.initial_state(4);
  const auto a = module_step(free, x, policy.low.expand({4, policy.act_dim()}), zeros);
  const auto b = module_step(free, x, policy.high.expand({4, policy.act_dim()}), zeros);
  EXPECT_TRUE(torch::equal(a.next_state, b.next_state));
  EXPECT_TRUE(torch::equal(a.action, b.action));
  // ... and once started it does.
  const auto c = module_step(free, x, policy.low.expand({4, policy.act_dim()}), a.next_state);
  const auto d = module_step(free, x, policy.high.expand({4, policy.act_dim()}), a.next_state);
  EXPECT_FALSE(torch::equal(c.next_state, d.next_state));
}

#ifdef SIMLAB_HAS_ONNX
TEST_F(DreamerExport, OnnxMatchesTheInProcessPolicyOverASequence) {
  auto policy = load_trained_policy(kDreamerRun);
  const auto guard = make_guardrails(policy, 0.5);
  const auto model = read_onnx(kDreamerOut / "policy.onnx");
  ASSERT_EQ(model.opset_import(0).version(), 13);
  ASSERT_EQ(model.graph().input_size(), 3);
  EXPECT_EQ(model.graph().input(2).name(), "state");
  ASSERT_EQ(model.graph().output_size(), 3);
  EXPECT_EQ(model.graph().output(2).name(), "next_state");
  auto to_torch = [](const T& t) { return torch::tensor(t.v).reshape(t.shape); };
  auto onnx_step = [&](const torch::Tensor& o, const torch::Tensor& p, const torch::Tensor& s) {
    const auto v = run_onnx(model, {{"obs", o}, {"prev_action", p}, {"state", s}});
    return GuardedStep{to_torch(v.at("action")), to_torch(v.at("flag")).to(torch::kBool),
                       to_torch(v.at("next_state"))};
  };
  const auto want = roll(policy, guard, [&](const auto& o, const auto& p, const auto& s) {
    return guarded_recurrent_action(policy, guard, o, p, s);
  });
  const auto got = roll(policy, guard, onnx_step);
  const auto [da, ds] = max_diff(got, want);
  std::printf(
      "dreamer ONNX vs in-process: max abs difference %.3g (actions), %.3g (states) "
      "over 50 envs x 20 steps\n",
      da, ds);
  EXPECT_LE(da, 1e-5);
  EXPECT_LE(ds, 1e-5);

  // The guardrails in ONNX, as the reference.
  auto obs = torch::randn({4, policy.obs_dim()});
  auto prev = torch::zeros({4, policy.act_dim()});
  auto state = want.states[5].slice(0, 0, 4).clone();
  obs[1][0] = NAN;
  prev[2][0] = -INFINITY;
  state[3][0] = INFINITY;
  const auto g = onnx_step(obs, prev, state);
  const auto r = guarded_recurrent_action(policy, guard, obs, prev, state);
  EXPECT_TRUE(torch::equal(g.flag, r.flag));
  EXPECT_EQ(g.flag.to(torch::kFloat32).sum().item<float>(), 3.0f);
  EXPECT_LE((g.action - r.action).abs().max().item<double>(), 1e-5);
  EXPECT_LE((g.next_state - r.next_state).abs().max().item<double>(), 1e-5);
}
#endif

TEST_F(DreamerExport, PythonLoadsBothFormats) {
  if (test::shell("/usr/bin/python3 -c 'import torch, onnx' 2>&1").code != 0)
    GTEST_SKIP() << "python3 with torch and onnx is missing";
  const std::string script =
      "import json, sys, torch, onnx\n"
      "m = torch.jit.load(sys.argv[1])\n"
      "card = json.load(open(sys.argv[3]))\n"
      "rec = card['interface']['recurrent']\n"
      "s = m.initial_state(3)\n"
      "assert s.shape == (3, rec['state_dim']) and m.state_dim == rec['state_dim'], s.shape\n"
      "obs = torch.zeros(3, card['observation']['dim'])\n"
      "obs[1, 0] = float('nan')\n"
      "a, flag, s2 = m(obs, torch.zeros(3, card['action']['dim']), s)\n"
      "assert a.shape == (3, card['action']['dim']), a.shape\n"
      "assert flag.tolist() == [False, True, False], flag\n"
      "assert s2[0, -1] == 1 and s2[1, -1] == 0, s2\n"
      "a, flag, s3 = m(obs, a, s2)\n"
      "if sys.argv[2] != '-':\n"
      "    model = onnx.load(sys.argv[2])\n"
      "    onnx.checker.check_model(model, full_check=True)\n"
      "    assert [o.name for o in model.graph.output] == ['action', 'flag', 'next_state']\n"
      "print('python ok')\n";
  const fs::path py = kDreamerOut / "check.py";
  std::ofstream(py) << script;
  const std::string onnx_file = onnx_available() ? (kDreamerOut / "policy.onnx").string() : "-";
  const auto r =
      test::shell("/usr/bin/python3 " + py.string() + " " + (kDreamerOut / "policy.pt").string() +
                  " " + onnx_file + " " + (kDreamerOut / "policy_card.json").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(test::contains(r.out, "python ok")) << r.out;
}

TEST_F(DreamerExport, TheCardAndEvaluation) {
  const auto card = nlohmann::json::parse(std::ifstream(kDreamerOut / "policy_card.json"));
  const auto& rec = card["interface"]["recurrent"];
  EXPECT_EQ(rec["state_dim"], 49);
  EXPECT_EQ(rec["initial"], "zeros");
  EXPECT_EQ(rec["layout"]["started"], 48);
  EXPECT_EQ(card["interface"]["inputs"][2]["name"], "state");
  EXPECT_EQ(card["interface"]["outputs"][2]["name"], "next_state");
  EXPECT_EQ(card["training"]["algo"], "dreamer");
  EXPECT_EQ(card["training"]["dreamer"]["deter"], 32);
  EXPECT_FALSE(card["observation"]["elements"][0].contains("mean"));
  EXPECT_EQ(card["evaluation"]["episodes"], 2);

  auto policy = load_exported_policy(kDreamerOut / "policy.pt");
  EXPECT_EQ(policy.state_dim(), 49);
  EvalOptions o;
  o.episodes = 3;
  const auto j = evaluate_policy(policy, o).json;
  EXPECT_EQ(j["episodes"], 3);
  EXPECT_TRUE(j["return"]["mean"].is_number());
  EXPECT_EQ(j["per_episode"].size(), 3u);
  EXPECT_EQ(j["safety"]["guard_flags"], 0.0);
  EXPECT_LE(j["safety"]["max_action_change"].get<double>(), 1.0 + 1e-6);  // the rate bound
  // Each episode starts from the initial state: the same episodes again, the same returns.
  EXPECT_EQ(evaluate_policy(policy, o).json["return"], j["return"]);

  // Rows follow their episodes when only some of them run.
  policy.reset(4);
  const auto obs = torch::randn({4, 4}), prev = torch::zeros({4, 1});
  policy.forward(obs, prev);
  const auto before = policy.state.clone();
  policy.forward(obs.slice(0, 1, 3), prev.slice(0, 1, 3), {2, 3});
  EXPECT_TRUE(torch::equal(policy.state[0], before[0]));
  EXPECT_TRUE(torch::equal(policy.state[1], before[1]));
  const auto direct =
      module_step(policy.module, obs.slice(0, 1, 3), prev.slice(0, 1, 3), before.slice(0, 2, 4));
  EXPECT_TRUE(torch::equal(policy.state.slice(0, 2, 4), direct.next_state));

  // A card that disagrees with the module about recurrence names the field.
  policy.card["interface"].erase("recurrent");
  const auto message = error_of([&] { evaluate_policy(policy, o); });
  EXPECT_TRUE(test::contains(message, "interface.recurrent")) << message;
}

}  // namespace
}  // namespace simlab::learners
