#include "learners/evaluate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "engine/core/error.h"
#include "engine/io/image.h"
#include "engine/io/rollout.h"
#include "scenes/scene.h"

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

// A site or body position that a `near` term reads.
struct Point {
  phys::Quantity q = phys::Quantity::kSitePos;
  int index = -1;
};
Point find_point(const phys::Model& model, const std::string& name) {
  const auto sites = model.names(phys::Element::kSite);
  if (auto it = std::find(sites.begin(), sites.end(), name); it != sites.end())
    return {phys::Quantity::kSitePos, static_cast<int>(it - sites.begin())};
  const auto bodies = model.names(phys::Element::kBody);
  if (auto it = std::find(bodies.begin(), bodies.end(), name); it != bodies.end())
    return {phys::Quantity::kBodyPos, static_cast<int>(it - bodies.begin())};
  return {};
}

// What evaluation needs of one structural variant.
struct VariantInfo {
  std::vector<float> qpos_low, qpos_high;  // joint ranges by qpos address (+-inf: unlimited)
  std::vector<int> watched_bodies;         // bodies whose contacts are unwanted
  std::vector<std::pair<Point, Point>> near;
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
    v.near.emplace_back(find_point(model, t->from), find_point(model, t->to));
    v.near_max.push_back(t->max);
  }
  return v;
}

double distance(const phys::World& world, const Point& a, const Point& b) {
  double pa[3] = {0, 0, 0}, pb[3] = {0, 0, 0};
  if (a.index >= 0) world.read(a.q, a.index, pa);
  if (b.index >= 0) world.read(b.q, b.index, pb);
  return std::sqrt((pa[0] - pb[0]) * (pa[0] - pb[0]) + (pa[1] - pb[1]) * (pa[1] - pb[1]) +
                   (pa[2] - pb[2]) * (pa[2] - pb[2]));
}

struct Episode {
  std::unique_ptr<engine::io::EpisodeRollout> rollout;
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

void ExportedPolicy::reset(std::int64_t episodes) {
  const int dim = state_dim();
  state = dim > 0 ? torch::zeros({episodes, dim}) : torch::Tensor();
}

std::pair<torch::Tensor, torch::Tensor> ExportedPolicy::forward(const torch::Tensor& obs,
                                                                const torch::Tensor& prev_action,
                                                                const std::vector<int>& episodes) {
  torch::NoGradGuard no_grad;
  if (!state.defined() && state_dim() > 0)
    throw Error(SourceLocation{.file = file.string(), .field = "--policy"},
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
  if (!fs::is_regular_file(file))
    throw Error(SourceLocation{.file = file.string(), .field = "--policy"},
                "no such policy file (write one with `simlab export --run runs/NAME --out DIR`: "
                "DIR/policy.pt)");
  try {
    p.module = torch::jit::load(file.string());
  } catch (const c10::Error&) {
    throw Error(SourceLocation{.file = file.string(), .field = "--policy"},
                "not a TorchScript policy (simlab export writes DIR/policy.pt; ONNX files are "
                "for robot stacks, not for simlab eval)");
  }
  p.module.eval();
  const fs::path card = file.parent_path() / "policy_card.json";
  try {
    if (fs::exists(card)) {
      std::ifstream in(card);
      in >> p.card;
      p.card_file = card;
    } else if (p.module.hasattr("policy_card")) {
      p.card = nlohmann::json::parse(p.module.attr("policy_card").toStringRef());
    } else {
      throw Error(SourceLocation{.file = file.string()},
                  "no policy_card.json beside the policy and none inside it");
    }
  } catch (const nlohmann::json::exception&) {
    throw Error(SourceLocation{.file = fs::exists(card) ? card.string() : file.string()},
                "the policy card is not valid JSON");
  }
  p.state_dim();  // the card and the module agree on recurrence
  return p;
}

void check_layout(const nlohmann::json& card, const std::string& card_file,
                  const engine::Space& observation, const engine::Space& action) {
  for (const auto& [key, space] :
       {std::pair<std::string, const engine::Space*>{"observation", &observation},
        std::pair<std::string, const engine::Space*>{"action", &action}}) {
    auto where = [&](const std::string& field) {
      return SourceLocation{.file = card_file.empty() ? "policy card" : card_file, .field = field};
    };
    if (!card.contains(key) || !card[key].contains("elements") || !card[key]["elements"].is_array())
      throw Error(where(key), "the card has no " + key + " layout");
    const auto& elements = card[key]["elements"];
    const int dim = static_cast<int>(elements.size());
    if (dim != space->dim())
      throw Error(where(key + ".dim"), "the policy takes " + std::to_string(dim) + " " + key +
                                           " elements; the scene has " +
                                           std::to_string(space->dim()));
    for (int k = 0; k < dim; ++k) {
      const std::string name = elements[k].value("name", "");
      if (name != space->names()[k])
        throw Error(where(key + ".elements[" + std::to_string(k) + "].name"),
                    "the policy's " + key + " element " + std::to_string(k) + " is '" + name +
                        "'; the scene's is '" + space->names()[k] + "'");
    }
  }
}

EvalResult evaluate_policy(ExportedPolicy& policy, const EvalOptions& o) {
  const auto backend = phys::parse_backend(o.backend, "--backend");
  if (o.episodes < 1) throw option_error("--episodes", "must be >= 1");
  const std::string scene_name =
      !o.scene.empty() ? o.scene : policy.card.at("scene").at("spec").get<std::string>();
  // train: the spec's ranges; heldout: its held-out ranges (an Error if it declares none);
  // none: no parameter randomization or pushes (see scenes::with_randomization).
  auto spec =
      scenes::with_randomization(scenes::load_scene(scenes::resolve_scene(scene_name)),
                                 scenes::parse_randomization(o.randomization, "--randomization"));
  spec.backend = backend;
  const auto scene = scenes::compile_scene(spec, o.seed);
  const auto& v0 = scene.variants.at(0);
  check_layout(policy.card, policy.card_file.string(),
               v0.task.observe ? v0.task.observation : v0.model->info().observation,
               v0.model->info().action);
  const int obs_dim = static_cast<int>(policy.card["observation"]["elements"].size());
  const int act_dim = static_cast<int>(policy.card["action"]["elements"].size());
  // A policy trained with an action repeat decides every `repeat` control steps.
  const int repeat = std::max(1, policy.card["action"].value("action_repeat", 1));
  std::vector<float> low(act_dim), high(act_dim), safe(act_dim);
  for (int k = 0; k < act_dim; ++k) {
    const auto& e = policy.card["action"]["elements"][k];
    low[k] = e.at("low").get<float>();
    high[k] = e.at("high").get<float>();
    safe[k] = e.value("safe", std::clamp(0.0f, low[k], high[k]));
  }

  // Success: the scene's `near` terminations, else its `near` rewards.
  std::vector<const scenes::TermSpec*> near;
  for (const auto& t : spec.terminations)
    if (t.term == "near") near.push_back(&t);
  std::string success_from = "termination";
  if (near.empty()) {
    success_from = "reward";
    for (const auto& t : spec.rewards)
      if (t.term == "near") near.push_back(&t);
  }
  std::vector<VariantInfo> info;
  for (const auto& v : scene.variants)
    info.push_back(describe(*v.model, spec, near, o.allowed_contacts));

  // The sweep parameter: "label" or "label:element".
  std::string sweep_label = o.sweep, sweep_element;
  if (const auto colon = o.sweep.find(':'); colon != std::string::npos) {
    sweep_label = o.sweep.substr(0, colon);
    sweep_element = o.sweep.substr(colon + 1);
  }
  if (!o.sweep.empty() && o.sweep_png.empty())
    throw option_error("--sweep", "needs a file for the plot (--sweep-out)");

  auto config = scene.config;
  config.seed = o.seed;
  config.num_envs = o.episodes;
  std::vector<Episode> episodes(static_cast<std::size_t>(o.episodes));
  std::vector<std::string> randomized;  // labels seen, for a sweep error
  for (int k = 0; k < o.episodes; ++k) {
    auto& e = episodes[k];
    e.rollout = std::make_unique<engine::io::EpisodeRollout>(scene.variants, config, k);
    e.prev = safe;
    e.prev2 = safe;
    e.state.resize(static_cast<std::size_t>(e.rollout->state_dim()));
    if (!o.sweep.empty()) {
      for (const auto& c : scenes::randomized_params(*scene.variants[e.rollout->variant()].model,
                                                     e.rollout->world())) {
        const std::string label = scenes::param_label(c.param);
        if (k == 0) randomized.push_back(label + ":" + c.element);
        if (std::isnan(e.sweep_value) && label == sweep_label &&
            (sweep_element.empty() || c.element == sweep_element))
          e.sweep_value = c.value;
      }
    }
  }
  if (!o.sweep.empty() && std::none_of(episodes.begin(), episodes.end(), [](const Episode& e) {
        return std::isfinite(e.sweep_value);
      })) {
    std::string list;
    for (const auto& r : randomized)
      list += (list.empty() ? "" : ", ") + r;
    throw option_error("--sweep", "'" + o.sweep + "' is not randomized in these episodes (" +
                                      (list.empty() ? "nothing is" : "randomized: " + list) + ")");
  }

  // Step every running episode together: one forward call per control step.
  std::vector<int> active;
  for (int k = 0; k < o.episodes; ++k)
    active.push_back(k);
  auto obs = torch::empty({o.episodes, obs_dim});
  auto prev = torch::empty({o.episodes, act_dim});
  policy.reset(o.episodes);  // recurrent policies: every episode starts from the initial state
  while (!active.empty()) {
    const int n = static_cast<int>(active.size());
    for (int i = 0; i < n; ++i) {
      const auto& e = episodes[active[i]];
      std::copy(e.rollout->obs().begin(), e.rollout->obs().end(),
                obs.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * obs_dim);
      std::copy(e.prev.begin(), e.prev.end(),
                prev.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * act_dim);
    }
    const auto [action_t, flag_t] = policy.forward(obs.slice(0, 0, n), prev.slice(0, 0, n), active);
    const auto actions = action_t.to(torch::kFloat32).contiguous();
    const auto flags = flag_t.to(torch::kBool).reshape({n}).contiguous();
    std::vector<int> still;
    for (int i = 0; i < n; ++i) {
      auto& e = episodes[active[i]];
      const float* a = actions.data_ptr<float>() + static_cast<std::ptrdiff_t>(i) * act_dim;
      if (flags.data_ptr<bool>()[i]) ++e.flags;
      for (int j = 0; j < act_dim; ++j) {
        const float tol = 1e-6f * std::max(1.0f, high[j] - low[j]);
        if (a[j] <= low[j] + tol || a[j] >= high[j] - tol) ++e.saturated;
        if (e.decisions >= 1) {
          e.rate += std::abs(a[j] - e.prev[j]);
          e.max_change = std::max(e.max_change, static_cast<double>(std::abs(a[j] - e.prev[j])));
        }
        if (e.decisions >= 2) e.jerk += std::abs(a[j] - 2 * e.prev[j] + e.prev2[j]);
      }
      const auto& v = info[e.rollout->variant()];
      const auto& world = e.rollout->world();
      engine::io::EpisodeRollout::Step s;
      // The action holds for `repeat` control steps (or until the episode ends); limits and
      // contacts are read after each, the world staying at the step's end state (no auto-reset).
      for (int r = 0; r < repeat && !e.rollout->done(); ++r) {
        s = e.rollout->step(std::span<const float>(a, static_cast<std::size_t>(act_dim)));
        e.ret += s.reward;
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
          world.read(phys::Quantity::kBodyContact, b, std::span<double>(&c, 1));
          contacts += c;
        }
        e.contacts += contacts;
        if (contacts > 0) ++e.contact_steps;
      }
      ++e.decisions;
      e.prev2 = e.prev;
      e.prev.assign(a, a + act_dim);
      if (e.rollout->done()) {
        e.terminated = s.terminated;
        e.truncated = s.truncated;
        e.success = !v.near.empty();
        for (std::size_t t = 0; t < v.near.size(); ++t)
          e.success =
              e.success && distance(world, v.near[t].first, v.near[t].second) <= v.near_max[t];
      } else {
        still.push_back(active[i]);
      }
    }
    active.swap(still);
  }

  // Aggregates.
  const double k = o.episodes;
  double mean = 0, var = 0, lo = 1e300, hi = -1e300, length = 0, steps = 0, decisions = 0,
         terminated = 0;
  double success = 0, limit = 0, saturated = 0, contacts = 0, contact_steps = 0, rate = 0, jerk = 0,
         max_change = 0, flags = 0;
  for (const auto& e : episodes) {
    mean += e.ret / k;
    lo = std::min(lo, e.ret);
    hi = std::max(hi, e.ret);
    length += e.steps / k;
    steps += e.steps;
    decisions += e.decisions;
    terminated += e.terminated / k;
    success += e.success / k;
    limit += static_cast<double>(e.limit_steps);
    saturated += static_cast<double>(e.saturated);
    contacts += e.contacts;
    contact_steps += e.contact_steps;
    rate += e.rate;
    jerk += e.jerk;
    max_change = std::max(max_change, e.max_change);
    flags += static_cast<double>(e.flags);
  }
  for (const auto& e : episodes)
    var += (e.ret - mean) * (e.ret - mean) / std::max(1.0, k - 1);
  const double sd = std::sqrt(var);
  const double half = o.episodes > 1 ? t95(o.episodes - 1) * sd / std::sqrt(k) : NAN;
  double rate_n = 0, jerk_n = 0;
  for (const auto& e : episodes) {
    rate_n += std::max(0, e.decisions - 1) * static_cast<double>(act_dim);
    jerk_n += std::max(0, e.decisions - 2) * static_cast<double>(act_dim);
  }
  const bool has_success = !near.empty();
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
  nlohmann::json j = {
      {"policy", policy.file.string()},
      {"scene", spec.name},
      {"randomization", o.randomization},
      {"backend", o.backend},
      {"episodes", o.episodes},
      {"seed", o.seed},
      {"return",
       {{"mean", mean},
        {"std", sd},
        {"ci95", {num(mean - half), num(mean + half)}},
        {"min", lo},
        {"max", hi}}},
      {"training_final_mean_return",
       policy.card.contains("training")
           ? policy.card["training"].value("final_mean_return", nlohmann::json(nullptr))
           : nlohmann::json(nullptr)},
      {"episode_length", length},
      {"terminated_share", terminated},
      {"success_rate", has_success ? nlohmann::json(success) : nlohmann::json(nullptr)},
      {"success_criterion",
       has_success ? "every `near` " + success_from + " term holds at the episode's last step"
                   : "n/a: the scene has no `near` term"},
      {"safety",
       {{"joint_limit_share", steps > 0 ? limit / steps : 0.0},
        {"joint_limit_steps", limit},
        {"saturation_share", decisions > 0 ? saturated / (decisions * act_dim) : 0.0},
        {"unwanted_contacts_per_step", steps > 0 ? contacts / steps : 0.0},
        {"unwanted_contact_share", steps > 0 ? contact_steps / steps : 0.0},
        {"allowed_contacts", o.allowed_contacts},
        {"action_rate", rate_n > 0 ? rate / rate_n : 0.0},
        {"jerk", jerk_n > 0 ? jerk / jerk_n : 0.0},
        {"max_action_change", max_change},
        {"guard_flags", flags}}},
      {"per_episode", per_episode}};

  if (!o.sweep.empty()) {
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
                                "return against " + o.sweep + " (" + spec.name + ")", o.sweep, x,
                                {{.label = "episode return", .y = y, .points = true}});
    j["sweep"] = {{"param", o.sweep}, {"values", x}, {"returns", y}, {"png", o.sweep_png.string()}};
  }

  std::ostringstream md;
  md << "| " << spec.name << ", randomization " << o.randomization
     << (backend == phys::BackendKind::kMuJoCo ? "" : ", on " + o.backend) << ", " << o.episodes
     << " episodes | value |\n| --- | --- |\n";
  md << "| mean return (95% interval) | " << fmt(mean, 2) << " (" << fmt(mean - half, 2) << " to "
     << fmt(mean + half, 2) << ") |\n";
  md << "| success rate | " << (has_success ? fmt(100 * success, 1) + "%" : "n/a") << " |\n";
  md << "| episode length (steps) | " << fmt(length, 1) << " |\n";
  md << "| terminated | " << fmt(100 * terminated, 1) << "% |\n";
  md << "| steps at a joint limit | " << fmt(steps > 0 ? 100 * limit / steps : 0, 2) << "% |\n";
  md << "| saturated action elements | "
     << fmt(decisions > 0 ? 100 * saturated / (decisions * act_dim) : 0, 2) << "% |\n";
  md << "| unwanted contacts per step | " << fmt(steps > 0 ? contacts / steps : 0, 3) << " |\n";
  md << "| action rate, mean abs change per step | " << fmt(rate_n > 0 ? rate / rate_n : 0, 4)
     << " |\n";
  md << "| action jerk, mean abs 2nd difference | " << fmt(jerk_n > 0 ? jerk / jerk_n : 0, 4)
     << " |\n";
  md << "| guard flags (NaN/Inf input) | " << static_cast<std::int64_t>(flags) << " |\n";
  return {j, md.str()};
}

}  // namespace simlab::learners
