#include "learners/export.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "engine/io/checksum.h"
#include "engine/io/lock.h"
#include "engine/physics/backend.h"
#include "learners/evaluate.h"
#include "learners/version.h"
#include "scenes/scene.h"

namespace simlab::learners {
namespace fs = std::filesystem;
namespace {

// guarded_action() of learners/policy.h, in TorchScript. addmm(b, x, w.t()) is what
// torch::nn::Linear computes for a batch, so the module matches the in-process policy bit for bit.
constexpr const char* kForward = R"(
def forward(self, obs: Tensor, prev_action: Tensor) -> Tuple[Tensor, Tensor]:
    bad_obs = torch.isnan(obs) | torch.isinf(obs)
    bad_prev = torch.isnan(prev_action) | torch.isinf(prev_action)
    flag = torch.any(bad_obs, 1) | torch.any(bad_prev, 1)
    x = torch.where(bad_obs, torch.zeros_like(obs), obs)
    safe = self.safe_action.expand_as(prev_action)
    prev = torch.where(bad_prev, safe, prev_action)
    z = torch.clamp((x - self.obs_mean) / self.obs_std, -10.0, 10.0)
    h = torch.tanh(torch.addmm(self.b0, z, self.w0.t()))
    h = torch.tanh(torch.addmm(self.b1, h, self.w1.t()))
    a = torch.addmm(self.b2, h, self.w2.t())
    a = torch.max(torch.min(a, self.act_high), self.act_low)
    a = torch.where(flag.unsqueeze(1), safe, a)
    a = torch.max(torch.min(a, prev + self.max_delta), prev - self.max_delta)
    a = torch.max(torch.min(a, self.act_high), self.act_low)
    return a, flag
)";

// guarded_recurrent_action() of learners/policy.h, in TorchScript: the guards, then one step of
// the world model's posterior filter and the actor's mean (see the top of learners/policy.h).
// Layers are written out with the ops torch::nn uses (layer_norm, silu, gru_cell), so the module
// follows the in-process policy to float rounding. D, Z, A, G, C, H, S: deter, stoch * classes,
// act_dim, stoch, classes, hidden, state_dim.
constexpr const char* kRecurrentForward = R"(
def layer(self, x: Tensor, w: Tensor, g: Tensor, b: Tensor) -> Tensor:
    return torch.silu(torch.layer_norm(torch.matmul(x, w.t()), [H], g, b, 0.001))

def initial_state(self, batch: int) -> Tensor:
    return torch.zeros([batch, S])

def forward(self, obs: Tensor, prev_action: Tensor, state: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    bad_obs = torch.isnan(obs) | torch.isinf(obs)
    bad_prev = torch.isnan(prev_action) | torch.isinf(prev_action)
    bad_state = torch.any(torch.isnan(state) | torch.isinf(state), 1, True)
    flag = torch.any(bad_obs, 1) | torch.any(bad_prev, 1) | bad_state.squeeze(1)
    x = torch.where(bad_obs, torch.zeros_like(obs), obs)
    safe = self.safe_action.expand_as(prev_action)
    prev = torch.where(bad_prev, safe, prev_action)
    s = torch.where(bad_state, torch.zeros_like(state), state)
    started = s[:, D + Z:S]
    deter = s[:, 0:D] * started
    stoch = s[:, D:D + Z] * started
    a_prev = torch.clamp(2.0 * (prev - self.act_low) / (self.act_high - self.act_low) - 1.0, -1.0, 1.0)
    a_prev = a_prev * started
    e = torch.sign(x) * torch.log1p(torch.abs(x))
    e = self.layer(e, self.enc_w0, self.enc_g0, self.enc_b0)
    e = self.layer(e, self.enc_w1, self.enc_g1, self.enc_b1)
    i = self.layer(torch.cat([stoch, a_prev], 1), self.img_w, self.img_g, self.img_b)
    h = torch.gru_cell(i, deter, self.gru_w_ih, self.gru_w_hh, self.gru_b_ih, self.gru_b_hh)
    p = self.layer(torch.cat([h, e], 1), self.post_w0, self.post_g0, self.post_b0)
    logits = torch.addmm(self.post_b1, p, self.post_w1.t()).reshape([-1, G, C])
    z = (logits == torch.amax(logits, [2], True)).float().reshape([-1, Z])
    f = self.layer(torch.cat([h, z], 1), self.pi_w0, self.pi_g0, self.pi_b0)
    f = self.layer(f, self.pi_w1, self.pi_g1, self.pi_b1)
    out = torch.addmm(self.pi_b2, f, self.pi_w2.t())
    mean = 5.0 * torch.tanh(out[:, 0:A] / 5.0)
    a = self.act_low + (torch.tanh(mean) + 1.0) * 0.5 * (self.act_high - self.act_low)
    a = torch.max(torch.min(a, self.act_high), self.act_low)
    a = torch.where(flag.unsqueeze(1), safe, a)
    a = torch.max(torch.min(a, prev + self.max_delta), prev - self.max_delta)
    a = torch.max(torch.min(a, self.act_high), self.act_low)
    next_state = torch.cat([h, z, torch.ones_like(started)], 1)
    next_state = torch.where(flag.unsqueeze(1), s, next_state)
    return a, flag, next_state
)";

// kRecurrentForward with its size letters replaced by numbers.
std::string recurrent_source(const TrainedPolicy& p) {
  const std::map<char, int> sizes = {{'D', p.deter_dim()},     {'Z', p.stoch_dim()},
                                     {'A', p.act_dim()},       {'G', p.dreamer.stoch},
                                     {'C', p.dreamer.classes}, {'H', p.dreamer.hidden},
                                     {'S', p.state_dim()}};
  std::string out;
  const std::string src = kRecurrentForward;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    const bool word_before = i > 0 && (std::isalnum(static_cast<unsigned char>(src[i - 1])) ||
                                       src[i - 1] == '_' || src[i - 1] == '.');
    const bool word_after =
        i + 1 < src.size() &&
        (std::isalnum(static_cast<unsigned char>(src[i + 1])) || src[i + 1] == '_');
    const auto it = sizes.find(c);
    if (it != sizes.end() && !word_before && !word_after)
      out += std::to_string(it->second);
    else
      out += c;
  }
  return out;
}

nlohmann::json finite_or_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

// Units of an observation element, from its term ("joint_vel/hinge" -> rad/s or m/s).
std::string obs_unit(const std::string& name) {
  const std::string term = name.substr(0, name.find('/'));
  if (term == "joint_pos" || term == "qpos") return "rad (hinge) or m (slide)";
  if (term == "joint_vel" || term == "qvel") return "rad/s (hinge) or m/s (slide)";
  if (term == "body_pos" || term == "site_pos" || term == "offset") return "m";
  if (term == "bodies_pos")
    return name.size() > 2 && name.substr(name.size() - 2) == "/p" ? "1 (present)" : "m";
  if (term == "body_quat" || term == "body_z_axis" || term == "body_heading") return "1";
  if (term == "body_lin_vel") return "m/s";
  if (term == "body_ang_vel") return "rad/s";
  if (term == "sensor") return "the sensor's (MuJoCo: SI)";
  if (term == "last_action") return "the action's (the previous step's, clamped)";
  return "";
}

const char* mode_name(scenes::RandomizeSpec::Mode m) {
  switch (m) {
    case scenes::RandomizeSpec::Mode::kStartup:
      return "startup";
    case scenes::RandomizeSpec::Mode::kReset:
      return "reset";
    case scenes::RandomizeSpec::Mode::kInterval:
      return "interval";
  }
  return "";
}

const char* distribution_name(scenes::RandomizeSpec::Distribution d) {
  switch (d) {
    case scenes::RandomizeSpec::Distribution::kUniform:
      return "uniform";
    case scenes::RandomizeSpec::Distribution::kLogUniform:
      return "log_uniform";
    case scenes::RandomizeSpec::Distribution::kGaussian:
      return "gaussian";
  }
  return "";
}

const char* operation_name(scenes::RandomizeSpec::Operation o) {
  switch (o) {
    case scenes::RandomizeSpec::Operation::kScale:
      return "scale";
    case scenes::RandomizeSpec::Operation::kAdd:
      return "add";
    case scenes::RandomizeSpec::Operation::kAbsolute:
      return "absolute";
  }
  return "";
}

nlohmann::json scene_json(const TrainedPolicy& policy) {
  const auto spec_file = fs::absolute(scenes::resolve_scene(policy.scene)).lexically_normal();
  const auto spec = scenes::load_scene(spec_file);
  std::ifstream spec_in(spec_file);
  const std::string spec_text((std::istreambuf_iterator<char>(spec_in)),
                              std::istreambuf_iterator<char>());
  nlohmann::json randomize = nlohmann::json::array();
  for (const auto& r : spec.randomize) {
    nlohmann::json j = {{"param", r.param_name},
                        {"targets", r.targets},
                        {"mode", mode_name(r.mode)},
                        {"distribution", distribution_name(r.distribution)},
                        {"operation", operation_name(r.operation)}};
    if (r.distribution == scenes::RandomizeSpec::Distribution::kGaussian)
      j["mean_stddev"] = {r.a, r.b};
    else
      j["range"] = {r.a, r.b};
    if (r.mode == scenes::RandomizeSpec::Mode::kInterval)
      j["interval_seconds"] = r.interval_seconds;
    randomize.push_back(j);
  }
  nlohmann::json noise = nlohmann::json::object();
  for (const auto& t : spec.observations)
    if (t.noise > 0) {
      std::string what = t.term;
      for (const auto& j : t.joints)
        what += "/" + j;
      for (const auto* s : {&t.body, &t.site, &t.sensor})
        if (!s->empty()) what += "/" + *s;
      noise[what] = t.noise;
    }
  // The spec's text and where it was, and the model's hash: the card evaluates from any folder,
  // and refuses a model that changed since.
  return {{"name", spec.name},
          {"spec", policy.scene},
          {"spec_file", spec_file.string()},
          {"spec_text", spec_text},
          {"model_file", fs::absolute(spec.model).lexically_normal().string()},
          {"model_hash", model_hash(spec.model)},
          {"control_hz", spec.control_hz},
          {"episode_seconds", spec.episode_seconds},
          {"variants", spec.procedural.variants},
          {"randomization", randomize},
          {"corruption",
           {{"observation_noise_stddev", noise},
            {"observation_dropout", spec.obs_dropout},
            {"action_delay_steps", {spec.action_delay_min, spec.action_delay_max}}}}};
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> dreamer_tensors(const TrainedPolicy& policy) {
  SIMLAB_CHECK(policy.recurrent()) << "dreamer_tensors needs a dreamer policy";
  const auto wm = policy.world_model->named_parameters();
  const auto pi = policy.dreamer_actor->named_parameters();
  // Sequential indices: Linear, LayerNorm, SiLU per layer, then the output Linear.
  const std::vector<std::pair<std::string, std::string>> from_model = {
      {"enc_w0", "encoder.0.weight"}, {"enc_g0", "encoder.1.weight"}, {"enc_b0", "encoder.1.bias"},
      {"enc_w1", "encoder.3.weight"}, {"enc_g1", "encoder.4.weight"}, {"enc_b1", "encoder.4.bias"},
      {"img_w", "img_in.0.weight"},   {"img_g", "img_in.1.weight"},   {"img_b", "img_in.1.bias"},
      {"gru_w_ih", "gru.weight_ih"},  {"gru_w_hh", "gru.weight_hh"},  {"gru_b_ih", "gru.bias_ih"},
      {"gru_b_hh", "gru.bias_hh"},    {"post_w0", "post.0.weight"},   {"post_g0", "post.1.weight"},
      {"post_b0", "post.1.bias"},     {"post_w1", "post.3.weight"},   {"post_b1", "post.3.bias"}};
  const std::vector<std::pair<std::string, std::string>> from_actor = {
      {"pi_w0", "net.0.weight"}, {"pi_g0", "net.1.weight"}, {"pi_b0", "net.1.bias"},
      {"pi_w1", "net.3.weight"}, {"pi_g1", "net.4.weight"}, {"pi_b1", "net.4.bias"},
      {"pi_w2", "net.6.weight"}, {"pi_b2", "net.6.bias"}};
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, key] : from_model)
    out.emplace_back(name, wm[key].detach().to(torch::kFloat32).clone());
  for (const auto& [name, key] : from_actor)
    out.emplace_back(name, pi[key].detach().to(torch::kFloat32).clone());
  return out;
}

torch::jit::Module build_torchscript(const TrainedPolicy& policy, const Guardrails& g,
                                     const std::string& card_json) {
  torch::NoGradGuard no_grad;
  torch::jit::Module m("SimlabPolicy");
  if (policy.recurrent()) {
    for (const auto& [name, t] : dreamer_tensors(policy))
      m.register_buffer(name, t);
    m.register_buffer("act_low", g.low.clone());
    m.register_buffer("act_high", g.high.clone());
    m.register_buffer("max_delta", g.max_delta.clone());
    m.register_buffer("safe_action", g.safe_action.clone());
    m.register_attribute("policy_card", c10::StringType::get(), card_json);
    m.register_attribute("state_dim", c10::IntType::get(), policy.state_dim());
    m.define(recurrent_source(policy));
    m.eval();
    return m;
  }
  const auto params = policy.model->pi->named_parameters();
  for (int layer = 0; layer < 3; ++layer) {
    const std::string i = std::to_string(2 * layer);  // Linear, Tanh, Linear, Tanh, Linear
    m.register_buffer(std::string{'w', static_cast<char>('0' + layer)},
                      params[i + ".weight"].detach().clone());
    m.register_buffer(std::string{'b', static_cast<char>('0' + layer)},
                      params[i + ".bias"].detach().clone());
  }
  m.register_buffer("obs_mean", policy.norm_mean());
  m.register_buffer("obs_std", policy.norm_std());
  m.register_buffer("act_low", g.low.clone());
  m.register_buffer("act_high", g.high.clone());
  m.register_buffer("max_delta", g.max_delta.clone());
  m.register_buffer("safe_action", g.safe_action.clone());
  m.register_attribute("policy_card", c10::StringType::get(), card_json);
  m.define(kForward);
  m.eval();
  return m;
}

nlohmann::json policy_card(const TrainedPolicy& policy, const Guardrails& g,
                           double max_delta_fraction, const std::string& simlab_version) {
  const bool recurrent = policy.recurrent();
  nlohmann::json obs = nlohmann::json::array();
  for (int k = 0; k < policy.obs_dim(); ++k) {
    nlohmann::json e = {{"index", k},
                        {"name", policy.observation.names()[k]},
                        {"unit", obs_unit(policy.observation.names()[k])}};
    if (!recurrent) {
      e["mean"] = policy.norm_mean()[k].item<double>();
      e["std"] = policy.norm_std()[k].item<double>();
    }
    e["low"] = finite_or_null(policy.observation.low()[k]);
    e["high"] = finite_or_null(policy.observation.high()[k]);
    obs.push_back(e);
  }
  nlohmann::json act = nlohmann::json::array();
  for (int k = 0; k < policy.act_dim(); ++k)
    act.push_back({{"index", k},
                   {"name", policy.action.names()[k]},
                   {"unit", "actuator control (force or torque = gear x control)"},
                   {"low", g.low[k].item<double>()},
                   {"high", g.high[k].item<double>()},
                   {"max_delta", finite_or_null(g.max_delta[k].item<double>())},
                   {"safe", g.safe_action[k].item<double>()}});
  const double hz = policy.control_hz;
  nlohmann::json card = {
      {"format", "simlab-policy-card/1"},
      {"simlab_version", simlab_version},
      {"libtorch_version", torch_version()},
      {"interface",
       {{"inputs",
         {{{"name", "obs"}, {"dtype", "float32"}, {"shape", {"B", policy.obs_dim()}}},
          {{"name", "prev_action"}, {"dtype", "float32"}, {"shape", {"B", policy.act_dim()}}}}},
        {"outputs",
         {{{"name", "action"}, {"dtype", "float32"}, {"shape", {"B", policy.act_dim()}}},
          {{"name", "flag"}, {"dtype", "bool"}, {"shape", {"B"}}}}},
        {"prev_action",
         "the action applied at the previous control step; at the first step, the safe action "
         "(or the robot's current command)"},
        {"guardrails",
         {{"clamp", "every action element is clamped to [low, high]"},
          {"rate",
           "|action - prev_action| <= max_delta per element and control step; the limits "
           "win where they disagree"},
          {"max_delta_fraction",
           max_delta_fraction > 0 ? nlohmann::json(max_delta_fraction) : nlohmann::json(nullptr)},
          {"non_finite",
           "a NaN or Inf in a row of obs or prev_action sets that row's flag and its action is "
           "the safe action (zero clamped into [low, high]), still rate-bounded from "
           "prev_action; a non-finite prev_action reads as the safe action"}}}}},
      {"observation",
       {{"dim", policy.obs_dim()},
        {"normalization",
         "clamp((obs - mean) / std, -10, 10), std = sqrt(var + 1e-8), inside the "
         "model: feed raw observations"},
        {"elements", obs}}},
      {"action",
       {{"dim", policy.act_dim()},
        {"scaling",
         "none: the model outputs actuator controls directly (scale 1, offset 0), "
         "clamped to [low, high]; unbounded actuators get [-1, 1]"},
        {"control_hz", hz},
        {"control_timestep_s", hz > 0 ? 1.0 / hz : 0.0},
        {"action_repeat", policy.action_repeat},
        {"elements", act}}},
      {"scene", scene_json(policy)},
      {"training",
       {{"run", policy.run.string()},
        {"algo", policy.algo},
        {"backend", policy.backend},
        {"seed", policy.seed},
        {"steps", policy.steps},
        {"env_steps", policy.env_steps},
        {"updates", policy.updates},
        {"episodes", policy.episodes},
        {"finished", policy.finished},
        {"final_mean_return", policy.final_mean_return ? nlohmann::json(*policy.final_mean_return)
                                                       : nlohmann::json(nullptr)},
        {"hidden", policy.hidden},
        {"config", policy.config}}},
      {"evaluation", nullptr}};
  if (!recurrent) {
    card["observation"]["normalizer_count"] = policy.obs_count;
    return card;
  }

  // Dreamer: the recurrent interface, symlog inside, tanh-squashed actions.
  const int s = policy.state_dim(), d = policy.deter_dim(), z = policy.stoch_dim();
  auto& io = card["interface"];
  io["inputs"].push_back({{"name", "state"}, {"dtype", "float32"}, {"shape", {"B", s}}});
  io["outputs"].push_back({{"name", "next_state"}, {"dtype", "float32"}, {"shape", {"B", s}}});
  io["recurrent"] = {
      {"state_dim", s},
      {"initial", "zeros"},
      {"initial_method", "initial_state(batch) in policy.pt; zeros [B, state_dim] in ONNX"},
      {"layout",
       {{"deter", {0, d}},
        {"stoch", {d, d + z}},
        {"stoch_groups", policy.dreamer.stoch},
        {"stoch_classes", policy.dreamer.classes},
        {"started", d + z}}},
      {"usage",
       "feed zeros at an episode's start, then each step's next_state as the next step's state; "
       "with started = 0 (the initial state) the world model ignores prev_action, as training "
       "did on an episode's first step"},
      {"latent", "the posterior's mode (deterministic); training acted on samples"},
      {"non_finite",
       "a flagged row (NaN or Inf in obs, prev_action or state) returns its state unchanged as "
       "next_state (the initial state where the state itself was not finite)"}};
  io["guardrails"]["non_finite"] =
      "a NaN or Inf in a row of obs, prev_action or state sets that row's flag and its action "
      "is the safe action (zero clamped into [low, high]), still rate-bounded from prev_action; "
      "a non-finite prev_action reads as the safe action";
  card["observation"]["normalization"] =
      "symlog(obs) = sign(obs) * log(1 + |obs|) inside the model: feed raw observations";
  card["action"]["scaling"] =
      "low + (tanh(mean) + 1) / 2 * (high - low) of the actor's mean, clamped to [low, high]; "
      "unbounded actuators get [-1, 1]";
  card["training"]["dreamer"] = {{"deter", policy.dreamer.deter},
                                 {"stoch", policy.dreamer.stoch},
                                 {"classes", policy.dreamer.classes},
                                 {"hidden", policy.dreamer.hidden}};
  return card;
}

#ifndef SIMLAB_HAS_ONNX
bool onnx_available() {
  return false;
}
void write_onnx(const TrainedPolicy&, const Guardrails&, const std::string&, const fs::path&) {
  throw Error(SourceLocation{.field = "format"},
              "onnx: this simlab was built without ONNX (install libonnx-dev, see "
              "third_party/debian-packages.txt, and rebuild)");
}
#endif

ExportResult export_policy(const fs::path& run, const ExportOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (options.formats.empty())
    throw Error(SourceLocation{.field = "format"}, "name at least one of torchscript, onnx");
  bool torchscript = false, onnx = false;
  for (const auto& f : options.formats) {
    if (f == "torchscript")
      torchscript = true;
    else if (f == "onnx")
      onnx = true;
    else
      throw Error(SourceLocation{.field = "format"},
                  "'" + f + "': expected torchscript and/or onnx (comma-separated)");
  }
  if (onnx && !onnx_available()) write_onnx({}, {}, "", {});  // throws the reason
  // A negative bound is a typo, not a request to drop the guardrail: only 0 does that.
  if (!std::isfinite(options.max_delta) || options.max_delta < 0 || options.max_delta > 2) {
    std::ostringstream got;
    got << options.max_delta;
    throw Error(SourceLocation{.field = "max_delta"},
                "must be 0 (no rate bound) or a fraction in (0, 2] of each action's range per "
                "control step, got " +
                    got.str());
  }
  if (options.eval_episodes < 0 || options.eval_episodes > 1000000)
    throw Error(SourceLocation{.field = "eval_episodes"},
                "must be in [0, 1000000], got " + std::to_string(options.eval_episodes));

  auto policy = load_trained_policy(run, options.allow_unfinished);
  // The first evaluation runs on the engine the policy trained on: say so before writing anything
  // where this simlab lacks it.
  if (options.eval_episodes > 0) {
    try {
      engine::physics::parse_backend(policy.backend, "backend");
    } catch (const Error& e) {
      throw Error(SourceLocation{.file = (run / "config.json").string(), .field = "backend"},
                  e.message() + "; --eval-episodes 0 exports without the first evaluation");
    }
  }
  const auto guard = make_guardrails(policy, options.max_delta);
  ExportResult result;
  result.card = policy_card(policy, guard, options.max_delta, options.simlab_version);

  std::error_code ec;
  fs::create_directories(options.out, ec);
  if (!engine::is_dir(options.out))
    throw Error(SourceLocation{.field = "out"}, "cannot create " + options.out.string());
  // One export into a folder at a time (engine/io/lock.h).
  const engine::io::FileLock lock(options.out / ".simlab.lock",
                                  "export folder " + options.out.string(),
                                  engine::io::this_command());
  const fs::path pt = options.out / "policy.pt", onnx_file = options.out / "policy.onnx",
                 card_file = options.out / "policy_card.json";
  result.card["files"] = nlohmann::json::object();
  if (torchscript) result.card["files"]["torchscript"] = pt.filename().string();
  if (onnx) result.card["files"]["onnx"] = onnx_file.filename().string();

  auto write_card = [&] {
    std::ofstream out(card_file);
    out << result.card.dump(2) << "\n";
    if (!out) throw Error(SourceLocation{.field = "out"}, "cannot write " + card_file.string());
  };
  auto write_models = [&] {
    // The copy inside the models cannot hold the models' own checksums.
    auto inner = result.card;
    inner["files"].erase("checksums");
    const std::string card = inner.dump();
    result.files.clear();
    nlohmann::json sums = nlohmann::json::object();
    if (torchscript) {
      // Through our own writer: a full disk is a message naming the file, and policy.pt.sum is
      // written beside it.
      std::ostringstream bytes;
      build_torchscript(policy, guard, card).save(bytes);
      const std::string data = bytes.str();
      engine::io::SummedFileWriter out(pt);
      out.write(data.data(), data.size());
      sums[pt.filename().string()] = out.commit().to_json();
      result.files.push_back(pt);
    }
    if (onnx) {
      write_onnx(policy, guard, card, onnx_file);
      sums[onnx_file.filename().string()] = engine::io::file_sum(onnx_file).to_json();
      result.files.push_back(onnx_file);
    }
    // Loaders verify the models against these before parsing them.
    result.card["files"]["checksums"] = sums;
    write_card();
    result.files.push_back(card_file);
  };
  write_models();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // A first evaluation on the training randomization goes into the card (and the models' copies).
  if (options.eval_episodes > 0) {
    const auto t1 = std::chrono::steady_clock::now();
    ExportedPolicy exported;
    exported.module = build_torchscript(policy, guard, "");
    exported.card = result.card;
    EvalOptions eval;
    eval.episodes = options.eval_episodes;
    eval.seed = options.eval_seed;
    // On the physics engine it trained on (checked above).
    eval.backend = engine::physics::parse_backend(policy.backend, "backend");
    auto evaluation = evaluate_policy(exported, eval).json;
    evaluation.erase("per_episode");  // simlab eval --out has them
    evaluation.erase("policy");
    result.card["evaluation"] = evaluation;
    result.eval_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    write_models();
  }
  return result;
}

}  // namespace simlab::learners
