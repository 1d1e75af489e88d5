#include "learners/evaluate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "engine/episode_rollout.h"
#include "engine/io/image.h"
#include "scenes/scene.h"
#include "scenes/terms.h"

namespace simlab::learners {
namespace fs = std::filesystem;
namespace phys = engine::physics;
namespace {

Error option_error(const std::string& field, const std::string& message) {
  return Error(SourceLocation{.field = field}, message);
}

// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
double t95(int df) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return table[df - 1];
  return df <= 60 ? 2.000 : df <= 120 ? 1.980 : 1.960;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What evaluation needs of one structural variant.
struct VariantInfo {
  std::vector<float> qpos_low, qpos_high;  // joint ranges by qpos address (+-inf: unlimited)
  std::vector<int> watched_bodies;         // bodies whose contacts are unwanted
  std::vector<scenes::TermDistance> near;  // each `near` term's distance, and its threshold
  std::vector<double> near_max;
};

VariantInfo describe(const phys::Model& model, const scenes::SceneSpec& spec,
                     const std::vector<const scenes::TermSpec*>& near,
                     const std::vector<std::string>& allowed) {
  VariantInfo v;
  const auto& obs = model.info().observation;
  const int nq = model.info().nq;
  v.qpos_low.assign(obs.low().begin(), obs.low().begin() + nq);
  v.qpos_high.assign(obs.high().begin(), obs.high().begin() + nq);
  const auto bodies = model.names(phys::Element::kBody);
  for (int b = 1; b < static_cast<int>(bodies.size()); ++b) {
    const std::string name = lower(bodies[b]);
    bool ok = false;
    for (const auto& word : allowed)
      ok = ok || (!word.empty() && name.find(lower(word)) != std::string::npos);
    for (const auto& object : spec.procedural.objects)
      ok = ok || name.rfind(lower(object.name), 0) == 0;
    if (!ok) v.watched_bodies.push_back(b);
  }
  for (const auto* t : near) {
    v.near.emplace_back(model, *t);
    v.near_max.push_back(t->max);
  }
  return v;
}

struct Episode {
  int index = 0;
  std::unique_ptr<engine::EpisodeRollout> rollout;
  std::vector<float> prev, prev2;  // the last two actions
  std::vector<double> state;
  double ret = 0;
  int steps = 0;      // control steps
  int decisions = 0;  // policy calls (fewer with an action repeat)
  bool terminated = false, truncated = false, success = false;
  std::int64_t limit_steps = 0, saturated = 0, flags = 0;
  double contacts = 0, contact_steps = 0, rate = 0, jerk = 0, max_change = 0;
  double sweep_value = NAN;
};

std::string fmt(double x, int digits = 3) {
  if (!std::isfinite(x)) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << x;
  return s.str();
}

}  // namespace

int ExportedPolicy::state_dim() const {
  const auto where = SourceLocation{.file = card_file.empty() ? file.string() : card_file.string(),
                                    .field = "interface.recurrent.state_dim"};
  const bool module_recurrent = module.hasattr("state_dim");
  const nlohmann::json* recurrent = nullptr;
  if (card.contains("interface") && card["interface"].contains("recurrent") &&
      !card["interface"]["recurrent"].is_null())
    recurrent = &card["interface"]["recurrent"];
  if (!recurrent && !module_recurrent) return 0;
  if (!recurrent)
    throw Error(where, "the policy is recurrent (state_dim " +
                           std::to_string(module.attr("state_dim").toInt()) +
                           ") but its card has no interface.recurrent");
  if (!recurrent->contains("state_dim") || !(*recurrent)["state_dim"].is_number_integer())
    throw Error(where, "missing or not an integer");
  const int dim = (*recurrent)["state_dim"].get<int>();
  if (!module_recurrent)
    throw Error(where, "the card says recurrent (state_dim " + std::to_string(dim) +
                           ") but the policy is feed-forward");
  if (module.attr("state_dim").toInt() != dim)
    throw Error(where, "the card says " + std::to_string(dim) + "; the policy's is " +
                           std::to_string(module.attr("state_dim").toInt()));
  return dim;
}

ActionLimits ExportedPolicy::action_limits() const {
  return card_action_limits(card, card_file.empty() ? file.string() : card_file.string());
}

void ExportedPolicy::reset(std::int64_t episodes) {
  const int dim = state_dim();
  state = dim > 0 ? torch::zeros({episodes, dim}) : torch::Tensor();
}

std::pair<torch::Tensor, torch::Tensor> ExportedPolicy::forward(const torch::Tensor& obs,
                                                                const torch::Tensor& prev_action,
                                                                const std::vector<int>& episodes) {
  torch::NoGradGuard no_grad;
  if (!state.defined() && state_dim() > 0)
    throw Error(SourceLocation{.file = file.string(), .field = "policy"},
                "a recurrent policy (state_dim " + std::to_string(state_dim()) +
                    "): this command does not keep per-episode states for it yet (simlab eval "
                    "does)");
  if (!state.defined()) {
    const auto out = module.forward({obs, prev_action}).toTuple();
    return {out->elements()[0].toTensor(), out->elements()[1].toTensor()};
  }
  torch::Tensor rows;
  if (episodes.empty()) {
    rows = torch::arange(obs.size(0), torch::kInt64);
  } else {
    rows =
        torch::tensor(std::vector<std::int64_t>(episodes.begin(), episodes.end()), torch::kInt64);
  }
  SIMLAB_CHECK(rows.size(0) == obs.size(0)) << "one episode index per observation row";
  const auto out = module.forward({obs, prev_action, state.index_select(0, rows)}).toTuple();
  state.index_copy_(0, rows, out->elements()[2].toTensor().to(torch::kFloat32));
  return {out->elements()[0].toTensor(), out->elements()[1].toTensor()};
}

ExportedPolicy load_exported_policy(const fs::path& file) {
  ExportedPolicy p;
  p.file = file;
  if (!engine::is_file(file))
    throw Error(SourceLocation{.file = file.string(), .field = "policy"},
                "no such policy file (write one with `simlab export --run runs/NAME --out DIR`: "
                "DIR/policy.pt)");
  const fs::path card = file.parent_path() / "policy_card.json";
  try {
    if (engine::path_exists(card)) {
      std::ifstream in(card);
      in >> p.card;
      p.card_file = card;
    }
  } catch (const nlohmann::json::exception&) {
    throw Error(SourceLocation{.file = card.string()}, "the policy card is not valid JSON");
  }
  // The file's bytes against the card's checksum (or policy.pt.sum) before LibTorch parses it.
  verify_policy_file(p.card, card.string(), file);
  try {
    p.module = torch::jit::load(file.string());
  } catch (const c10::Error&) {
    throw Error(SourceLocation{.file = file.string(), .field = "policy"},
                "not a TorchScript policy (simlab export writes DIR/policy.pt; ONNX files are "
                "for robot stacks, not for simlab eval)");
  }
  p.module.eval();
  if (p.card_file.empty()) {  // the copy inside the module
    if (!p.module.hasattr("policy_card"))
      throw Error(SourceLocation{.file = file.string()},
                  "no policy_card.json beside the policy and none inside it");
    try {
      p.card = nlohmann::json::parse(p.module.attr("policy_card").toStringRef());
    } catch (const nlohmann::json::exception&) {
      throw Error(SourceLocation{.file = file.string()}, "the policy card is not valid JSON");
    }
  }
  p.state_dim();  // the card and the module agree on recurrence
  return p;
}

namespace {

// What an evaluation needs besides its episodes: the card's layout and limits, success terms,
// what each variant watches, and the sweep parameter.
struct Setup {
  int obs_dim = 0, act_dim = 0;
  int repeat = 1;  // control steps per decision (the card's action_repeat)
  ActionLimits limits;
  std::vector<const scenes::TermSpec*> near;
  std::string success_from;
  std::vector<VariantInfo> info;
  std::string sweep_label, sweep_element;
  const scenes::Scene* scene = nullptr;
  const EvalOptions* options = nullptr;  // its on_frame hook
};

Setup set_up(const ExportedPolicy& policy, const scenes::Scene& scene, const EvalOptions& o) {
  if (o.episodes < 1) throw option_error("episodes", "must be >= 1");
  if (!o.sweep.empty() && o.sweep_png.empty())
    throw option_error("sweep", "needs a file for the plot (sweep_png)");
  scenes::require_actions(scene);
  const auto& v0 = scene.variants.at(0);
  check_layout(policy.card, policy.card_file.string(),
               v0.task.observe ? v0.task.observation : v0.model->info().observation,
               v0.model->info().action);
  Setup s;
  s.scene = &scene;
  s.options = &o;
  s.obs_dim = static_cast<int>(policy.card["observation"]["elements"].size());
  s.act_dim = static_cast<int>(policy.card["action"]["elements"].size());
  // A policy trained with an action repeat decides every `repeat` control steps.
  s.repeat = std::max(1, policy.card["action"].value("action_repeat", 1));
  s.limits = policy.action_limits();
  // Success: the scene's `near` terminations, else its `near` rewards.
  const auto& spec = scene.spec;
  s.success_from = "termination";
  for (const auto& t : spec.terminations)
    if (t.term == "near") s.near.push_back(&t);
  if (s.near.empty()) {
    s.success_from = "reward";
    for (const auto& t : spec.rewards)
      if (t.term == "near") s.near.push_back(&t);
  }
  for (const auto& v : scene.variants)
    s.info.push_back(describe(*v.model, spec, s.near, o.allowed_contacts));
  // The sweep parameter: "label" or "label:element".
  s.sweep_label = o.sweep;
  if (const auto colon = o.sweep.find(':'); colon != std::string::npos) {
    s.sweep_label = o.sweep.substr(0, colon);
    s.sweep_element = o.sweep.substr(colon + 1);
  }
  return s;
}

// Episode k of the seed for every k, started; with a sweep, each one's value of the parameter.
std::vector<Episode> start_episodes(const scenes::Scene& scene,
                                    const engine::VectorEnvConfig& config, const Setup& s,
                                    const EvalOptions& o) {
  std::vector<Episode> episodes(static_cast<std::size_t>(o.episodes));
  std::vector<std::string> randomized;  // labels seen, for a sweep error
  for (int k = 0; k < o.episodes; ++k) {
    auto& e = episodes[k];
    e.index = k;
    e.rollout = std::make_unique<engine::EpisodeRollout>(scene.variants, config, k);
    e.prev = s.limits.safe;
    e.prev2 = s.limits.safe;
    e.state.resize(static_cast<std::size_t>(e.rollout->state_dim()));
    if (o.sweep.empty()) continue;
    for (const auto& c : scenes::randomized_params(*scene.variants[e.rollout->variant()].model,
                                                   e.rollout->world())) {
      const std::string label = scenes::param_label(c.param);
      if (k == 0) randomized.push_back(label + ":" + c.element);
      if (std::isnan(e.sweep_value) && label == s.sweep_label &&
          (s.sweep_element.empty() || c.element == s.sweep_element))
        e.sweep_value = c.value;
    }
  }
  if (!o.sweep.empty() && std::none_of(episodes.begin(), episodes.end(), [](const Episode& e) {
        return std::isfinite(e.sweep_value);
      })) {
    std::string list;
    for (const auto& r : randomized)
      list += (list.empty() ? "" : ", ") + r;
    throw option_error("sweep", "'" + o.sweep + "' is not randomized in these episodes (" +
                                    (list.empty() ? "nothing is" : "randomized: " + list) + ")");
  }
  return episodes;
}

// One decision of episode `e` with action `a`: the action figures, then the control steps it
// holds for, with limits and contacts read after each.
void decide(Episode& e, const float* a, bool flagged, const Setup& s) {
  if (flagged) ++e.flags;
  const auto& low = s.limits.low;
  const auto& high = s.limits.high;
  for (int j = 0; j < s.act_dim; ++j) {
    const float tol = 1e-6f * std::max(1.0f, high[j] - low[j]);
    if (a[j] <= low[j] + tol || a[j] >= high[j] - tol) ++e.saturated;
    if (e.decisions >= 1) {
      e.rate += std::abs(a[j] - e.prev[j]);
      e.max_change = std::max(e.max_change, static_cast<double>(std::abs(a[j] - e.prev[j])));
    }
    if (e.decisions >= 2) e.jerk += std::abs(a[j] - 2 * e.prev[j] + e.prev2[j]);
  }
  const auto& v = s.info[e.rollout->variant()];
  // The world stays at the step's end state (no auto-reset).
  const engine::EnvSlot::ControlStepHook each = [&](const phys::World& w,
                                                    const engine::SlotStep& step) {
    e.ret += step.reward;  // in double, control step by control step
    ++e.steps;
    e.rollout->read_state(e.state);
    for (std::size_t q = 0; q < v.qpos_low.size(); ++q)
      if (e.state[q] <= v.qpos_low[q] || e.state[q] >= v.qpos_high[q]) {
        ++e.limit_steps;
        break;
      }
    double contacts = 0;
    for (int b : v.watched_bodies) {
      double c = 0;
      w.read(phys::Quantity::kBodyContact, b, std::span<double>(&c, 1));
      contacts += c;
    }
    e.contacts += contacts;
    if (contacts > 0) ++e.contact_steps;
    if (s.options->on_frame && e.index < s.options->frame_episodes)
      s.options->on_frame(*s.scene, e.index, e.rollout->variant(), w);
  };
  const auto step =
      e.rollout->step(std::span<const float>(a, static_cast<std::size_t>(s.act_dim)), &each);
  ++e.decisions;
  e.prev2 = e.prev;
  e.prev.assign(a, a + s.act_dim);
  if (e.rollout->done()) {
    e.terminated = step.terminated;
    e.truncated = step.truncated;
    e.success = !v.near.empty();
    for (std::size_t t = 0; t < v.near.size(); ++t)
      e.success = e.success && v.near[t](e.rollout->world()) <= v.near_max[t];
  }
}

// Step every running episode together: one forward call per decision.
void roll_out(ExportedPolicy& policy, std::vector<Episode>& episodes, const Setup& s) {
  const int count = static_cast<int>(episodes.size());
  std::vector<int> active;
  for (int k = 0; k < count; ++k)
    active.push_back(k);
  auto obs = torch::empty({count, s.obs_dim});
  auto prev = torch::empty({count, s.act_dim});
  policy.reset(count);  // recurrent policies: every episode starts from the initial state
  while (!active.empty()) {
    const int n = static_cast<int>(active.size());
    for (int i = 0; i < n; ++i) {
      const auto& e = episodes[active[i]];
      std::copy(e.rollout->obs().begin(), e.rollout->obs().end(),
                obs.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * s.obs_dim);
      std::copy(e.prev.begin(), e.prev.end(),
                prev.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * s.act_dim);
    }
    const auto [action_t, flag_t] = policy.forward(obs.slice(0, 0, n), prev.slice(0, 0, n), active);
    const auto actions = action_t.to(torch::kFloat32).contiguous();
    const auto flags = flag_t.to(torch::kBool).reshape({n}).contiguous();
    std::vector<int> still;
    for (int i = 0; i < n; ++i) {
      auto& e = episodes[active[i]];
      decide(e, actions.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * s.act_dim,
             flags.data_ptr<bool>()[i], s);
      if (!e.rollout->done()) still.push_back(active[i]);
    }
    active.swap(still);
  }
}

// The episodes summed up.
struct Totals {
  double mean = 0, sd = 0, half = NAN, lo = 1e300, hi = -1e300, length = 0, steps = 0,
         decisions = 0, terminated = 0;
  double success = 0, limit = 0, saturated = 0, contacts = 0, contact_steps = 0, rate = 0, jerk = 0,
         max_change = 0, flags = 0, rate_n = 0, jerk_n = 0;
};

Totals sum_up(const std::vector<Episode>& episodes, int act_dim) {
  Totals t;
  const double k = static_cast<double>(episodes.size());
  for (const auto& e : episodes) {
    t.mean += e.ret / k;
    t.lo = std::min(t.lo, e.ret);
    t.hi = std::max(t.hi, e.ret);
    t.length += e.steps / k;
    t.steps += e.steps;
    t.decisions += e.decisions;
    t.terminated += e.terminated / k;
    t.success += e.success / k;
    t.limit += static_cast<double>(e.limit_steps);
    t.saturated += static_cast<double>(e.saturated);
    t.contacts += e.contacts;
    t.contact_steps += e.contact_steps;
    t.rate += e.rate;
    t.jerk += e.jerk;
    t.max_change = std::max(t.max_change, e.max_change);
    t.flags += static_cast<double>(e.flags);
  }
  double var = 0;
  for (const auto& e : episodes)
    var += (e.ret - t.mean) * (e.ret - t.mean) / std::max(1.0, k - 1);
  t.sd = std::sqrt(var);
  if (episodes.size() > 1)
    t.half = t95(static_cast<int>(episodes.size()) - 1) * t.sd / std::sqrt(k);
  for (const auto& e : episodes) {
    t.rate_n += std::max(0, e.decisions - 1) * static_cast<double>(act_dim);
    t.jerk_n += std::max(0, e.decisions - 2) * static_cast<double>(act_dim);
  }
  return t;
}

nlohmann::json report_json(const ExportedPolicy& policy, const scenes::Scene& scene,
                           const EvalOptions& o, const Setup& s,
                           const std::vector<Episode>& episodes, const Totals& t) {
  const bool has_success = !s.near.empty();
  auto num = [](double x) {
    return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
  };
  nlohmann::json per_episode = nlohmann::json::array();
  for (std::size_t i = 0; i < episodes.size(); ++i) {
    const auto& e = episodes[i];
    nlohmann::json row = {{"episode", i},
                          {"variant", e.rollout->variant()},
                          {"return", e.ret},
                          {"length", e.steps},
                          {"terminated", e.terminated},
                          {"joint_limit_steps", e.limit_steps},
                          {"unwanted_contacts", e.contacts},
                          {"guard_flags", e.flags}};
    if (has_success) row["success"] = e.success;
    if (!o.sweep.empty()) row["sweep_value"] = num(e.sweep_value);
    per_episode.push_back(row);
  }
  const double steps = t.steps, decisions = t.decisions;
  return {{"policy", policy.file.string()},
          {"scene", scene.spec.name},
          {"randomization", scenes::randomization_name(o.randomization)},
          {"backend", phys::backend_name(o.backend)},
          {"episodes", o.episodes},
          {"seed", o.seed},
          {"return",
           {{"mean", t.mean},
            {"std", t.sd},
            {"ci95", {num(t.mean - t.half), num(t.mean + t.half)}},
            {"min", t.lo},
            {"max", t.hi}}},
          {"training_final_mean_return",
           policy.card.contains("training")
               ? policy.card["training"].value("final_mean_return", nlohmann::json(nullptr))
               : nlohmann::json(nullptr)},
          {"episode_length", t.length},
          {"terminated_share", t.terminated},
          {"success_rate", has_success ? nlohmann::json(t.success) : nlohmann::json(nullptr)},
          {"success_criterion",
           has_success ? "every `near` " + s.success_from + " term holds at the episode's last step"
                       : "n/a: the scene has no `near` term"},
          {"safety",
           {{"joint_limit_share", steps > 0 ? t.limit / steps : 0.0},
            {"joint_limit_steps", t.limit},
            {"saturation_share", decisions > 0 ? t.saturated / (decisions * s.act_dim) : 0.0},
            {"unwanted_contacts_per_step", steps > 0 ? t.contacts / steps : 0.0},
            {"unwanted_contact_share", steps > 0 ? t.contact_steps / steps : 0.0},
            {"allowed_contacts", o.allowed_contacts},
            {"action_rate", t.rate_n > 0 ? t.rate / t.rate_n : 0.0},
            {"jerk", t.jerk_n > 0 ? t.jerk / t.jerk_n : 0.0},
            {"max_action_change", t.max_change},
            {"guard_flags", t.flags}}},
          {"per_episode", per_episode}};
}

std::string report_markdown(const scenes::Scene& scene, const EvalOptions& o, const Setup& s,
                            const Totals& t) {
  const bool has_success = !s.near.empty();
  const double steps = t.steps, decisions = t.decisions;
  std::ostringstream md;
  md << "| " << scene.spec.name << ", randomization " << scenes::randomization_name(o.randomization)
     << (o.backend == phys::BackendKind::kMuJoCo
             ? ""
             : std::string(", on ") + phys::backend_name(o.backend))
     << ", " << o.episodes << " episodes | value |\n| --- | --- |\n";
  md << "| mean return (95% interval) | " << fmt(t.mean, 2) << " (" << fmt(t.mean - t.half, 2)
     << " to " << fmt(t.mean + t.half, 2) << ") |\n";
  md << "| success rate | " << (has_success ? fmt(100 * t.success, 1) + "%" : "n/a") << " |\n";
  md << "| episode length (steps) | " << fmt(t.length, 1) << " |\n";
  md << "| terminated | " << fmt(100 * t.terminated, 1) << "% |\n";
  md << "| steps at a joint limit | " << fmt(steps > 0 ? 100 * t.limit / steps : 0, 2) << "% |\n";
  md << "| saturated action elements | "
     << fmt(decisions > 0 ? 100 * t.saturated / (decisions * s.act_dim) : 0, 2) << "% |\n";
  md << "| unwanted contacts per step | " << fmt(steps > 0 ? t.contacts / steps : 0, 3) << " |\n";
  md << "| action rate, mean abs change per step | " << fmt(t.rate_n > 0 ? t.rate / t.rate_n : 0, 4)
     << " |\n";
  md << "| action jerk, mean abs 2nd difference | " << fmt(t.jerk_n > 0 ? t.jerk / t.jerk_n : 0, 4)
     << " |\n";
  md << "| guard flags (NaN/Inf input) | " << static_cast<std::int64_t>(t.flags) << " |\n";
  return md.str();
}

// Return against the swept parameter: a PNG, and the points in the JSON.
nlohmann::json plot_sweep(const scenes::Scene& scene, const EvalOptions& o,
                          const std::vector<Episode>& episodes) {
  std::vector<std::pair<double, double>> points;
  for (const auto& e : episodes)
    if (std::isfinite(e.sweep_value)) points.emplace_back(e.sweep_value, e.ret);
  std::sort(points.begin(), points.end());
  std::vector<double> x, y;
  for (const auto& [px, py] : points) {
    x.push_back(px);
    y.push_back(py);
  }
  engine::io::write_line_plot(o.sweep_png.string(),
                              "return against " + o.sweep + " (" + scene.spec.name + ")", o.sweep,
                              x, {{.label = "episode return", .y = y, .points = true}});
  return {{"param", o.sweep}, {"values", x}, {"returns", y}, {"png", o.sweep_png.string()}};
}

}  // namespace

EvalResult evaluate_policy(ExportedPolicy& policy, const scenes::Scene& scene,
                           const EvalOptions& o) {
  const Setup s = set_up(policy, scene, o);
  auto config = scene.config;
  config.seed = o.seed;
  config.num_envs = o.episodes;
  config.action_repeat = s.repeat;
  auto episodes = start_episodes(scene, config, s, o);
  roll_out(policy, episodes, s);
  const Totals t = sum_up(episodes, s.act_dim);
  auto j = report_json(policy, scene, o, s, episodes, t);
  if (!o.sweep.empty()) j["sweep"] = plot_sweep(scene, o, episodes);
  return {j, report_markdown(scene, o, s, t)};
}

scenes::SceneSpec card_scene(const ExportedPolicy& policy) {
  return card_scene(policy.card,
                    policy.card_file.empty() ? policy.file.string() : policy.card_file.string());
}

scenes::SceneSpec eval_spec(const ExportedPolicy& policy, const EvalOptions& o) {
  return !o.scene.empty() ? scenes::load_scene(scenes::resolve_scene(o.scene)) : card_scene(policy);
}

EvalResult evaluate_policy(ExportedPolicy& policy, const EvalOptions& o) {
  // train: the spec's ranges; heldout: its held-out ranges (an Error if it declares none);
  // none: no parameter randomization or pushes (see scenes::with_randomization).
  const auto scene =
      scenes::compile_scene(scenes::with_randomization(eval_spec(policy, o), o.randomization),
                            {.seed = o.seed, .backend = o.backend});
  return evaluate_policy(policy, scene, o);
}

}  // namespace simlab::learners
