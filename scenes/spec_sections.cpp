// Parsing a spec: the top-level keys, [reset], the term sections and [[camera]], [corruption]; the
// larger sections [[randomize]] and [procedural] have files of their own (spec_sections.h).
#include "scenes/spec_sections.h"

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <toml++/toml.h>
#include <utility>
#include <vector>

#include "engine/core/assets.h"
#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "scenes/scene.h"
#include "scenes/spec_reader.h"
#include "scenes/terms.h"

namespace simlab::scenes {
namespace {

namespace fs = std::filesystem;
using detail::at;
using detail::Errors;
using detail::num;
using detail::pick;
using detail::read_procedural;
using detail::read_randomize;
using detail::Reader;

// [[observation]], [[reward]] and [[termination]]: one table per term, checked against its
// section's term table and the keys its kind needs.
std::vector<TermSpec> read_terms(const Reader& root, const std::string& key, const TermTable& table,
                                 const std::string& what) {
  std::vector<TermSpec> terms;
  const bool observation = key == "observation";
  root.each(key, [&](const Reader& r, std::size_t) {
    std::vector<std::string> allowed = {
        "term", "joint", "joints", "body",   "site", "sensor", "from",       "to",        "behind",
        "gap",  "axis",  "weight", "target", "min",  "max",    "tanh_scale", "horizontal"};
    if (observation)
      allowed = {"term",   "joints", "body",   "site",  "sensor", "from",      "to",
                 "behind", "gap",    "prefix", "count", "noise",  "horizontal"};
    r.only(allowed);
    TermSpec t;
    t.term = r.required_text("term");
    t.where = r.where("term");
    const TermKind kind = pick(table, t.term, t.where, what + " term");
    // Errors about the element point at the key that names it.
    for (const char* element : {"joint", "joints", "body", "site", "sensor", "from", "prefix"})
      if (r.has(element)) {
        t.where = r.where(element);
        break;
      }
    if (!observation && r.has("joint") && r.has("joints"))
      throw Error(r.where("joints"), "give joint or joints, not both");
    t.joints = r.names(observation || r.has("joints") ? "joints" : "joint", {});
    t.body = r.text("body", "");
    t.site = r.text("site", "");
    t.sensor = r.text("sensor", "");
    t.from = r.text("from", "");
    t.to = r.text("to", "");
    t.behind = r.text("behind", "");
    t.behind_where = r.where("behind");
    t.gap = r.number("gap", 0.0);
    if (r.has("behind") && kind != TermKind::kDistance && kind != TermKind::kNear &&
        kind != TermKind::kOffset)
      throw Error(r.where("behind"), "only distance, near and offset terms take behind");
    if (r.has("gap") && !r.has("behind"))
      throw Error(r.where("gap"), "gap needs behind (the point `to` is pushed towards)");
    if (!(t.gap >= 0 && t.gap <= 10)) throw Error(r.where("gap"), "must be in [0, 10] m");
    t.horizontal = r.flag("horizontal", false);
    if (r.has("horizontal") && kind != TermKind::kDistance && kind != TermKind::kNear &&
        kind != TermKind::kOffset && kind != TermKind::kClosingSpeed)
      throw Error(r.where("horizontal"),
                  "only distance, near, offset and closing_speed terms take horizontal");
    t.tanh_scale = r.number("tanh_scale", 0.0);
    if (r.has("tanh_scale") && kind != TermKind::kDistance)
      throw Error(r.where("tanh_scale"), "only distance terms take tanh_scale");
    if (r.has("tanh_scale") && !(t.tanh_scale > 0 && t.tanh_scale <= 1000))
      throw Error(r.where("tanh_scale"), "must be in (0, 1000] per metre");
    t.prefix = r.text("prefix", "");
    t.count = observation ? r.integer("count", 0) : 0;
    t.axis =
        pick<int>({{"x", 0}, {"y", 1}, {"z", 2}}, r.text("axis", "x"), r.where("axis"), "axis");
    t.weight = r.number("weight", 1.0);
    t.target = r.number("target", 0.0);
    t.min = r.number("min", -1e300);
    t.max = r.number("max", 1e300);
    t.noise = observation ? r.number("noise", 0.0) : 0.0;
    if (t.min > t.max)
      throw Error(r.where("min"), "min (" + num(t.min) + ") > max (" + num(t.max) + ")");
    if (t.noise < 0) throw Error(r.where("noise"), "must be >= 0");
    if (t.count < 0 || t.count > 64) throw Error(r.where("count"), "must be in [0, 64]");
    for (const auto& need : required_keys(kind)) {
      const bool present = need == "min|max"        ? r.has("min") || r.has("max")
                           : need == "joints"       ? !t.joints.empty()
                           : need == "joint|joints" ? !t.joints.empty()
                           : need == "joint"        ? t.joints.size() == 1 && !r.has("joints")
                                                    : r.has(need);
      if (present) continue;
      if (need == "joint" && r.has("joints"))
        throw Error(r.where("joints"), "term '" + t.term +
                                           "' takes one joint (joint = \"name\"); joints = "
                                           "[...] is for the penalties that sum over joints");
      const std::string key = need == "min|max" ? "min" : need == "joint|joints" ? "joint" : need;
      const std::string what = need == "min|max"        ? "min or max"
                               : need == "joint|joints" ? "joint (one name) or joints (a list)"
                                                        : need;
      throw Error(r.where(key), "term '" + t.term + "' needs " + what);
    }
    terms.push_back(std::move(t));
  });
  return terms;
}

// [[camera]]: free cameras for rendering, each with its own name.
std::vector<CameraSpec> read_cameras(const Reader& root) {
  std::vector<CameraSpec> cameras;
  root.each("camera", [&](const Reader& c, std::size_t i) {
    c.only({"name", "pos", "target", "track", "fovy", "pos_noise", "target_noise", "fovy_noise"});
    CameraSpec cam;
    cam.where = c.where("name");
    cam.name = c.text("name", "camera" + std::to_string(i));
    c.vec3("pos", cam.pos);
    c.vec3("target", cam.target);
    cam.track = c.text("track", "", &cam.track_where);
    cam.fovy = c.number("fovy", cam.fovy);
    if (cam.fovy <= 0 || cam.fovy >= 180)
      throw Error(c.where("fovy"), "must be in (0, 180) degrees");
    cam.pos_noise = c.number("pos_noise", 0.0);
    if (cam.pos_noise < 0) throw Error(c.where("pos_noise"), "must be >= 0");
    cam.target_noise = c.number("target_noise", 0.0);
    if (cam.target_noise < 0) throw Error(c.where("target_noise"), "must be >= 0");
    cam.fovy_noise = c.number("fovy_noise", 0.0);
    if (cam.fovy_noise < 0 || cam.fovy - cam.fovy_noise <= 0 || cam.fovy + cam.fovy_noise >= 180)
      throw Error(c.where("fovy_noise"), "must be >= 0 and keep fovy within (0, 180) degrees");
    for (const auto& other : cameras)
      if (other.name == cam.name)
        throw Error(cam.where, "a camera named '" + cam.name + "' exists");
    cameras.push_back(std::move(cam));
  });
  return cameras;
}

// [[actuator]]: actuators the scene adds to its model.
std::vector<ActuatorSpec> read_actuators(const Reader& root) {
  std::vector<ActuatorSpec> out;
  root.each("actuator", [&](const Reader& a, std::size_t) {
    a.only({"type", "joints", "gear", "kp", "kv", "ctrl_range", "force_range"});
    ActuatorSpec act;
    act.where = a.where("type");
    act.type = pick<ActuatorSpec::Type>({{"motor", ActuatorSpec::Type::kMotor},
                                         {"position", ActuatorSpec::Type::kPosition},
                                         {"velocity", ActuatorSpec::Type::kVelocity}},
                                        a.text("type", "motor"), act.where, "actuator type");
    act.joints_where = a.where("joints");
    act.joints = a.names("joints", {});
    if (act.joints.empty())
      throw Error(act.joints_where, "required: the joints to drive, by name or pattern (\"*\")");
    act.gear = a.number("gear", act.gear);
    act.kp = a.number("kp", act.kp);
    act.kv = a.number("kv", act.kv);
    if (!(act.gear != 0 && std::isfinite(act.gear)))
      throw Error(a.where("gear"), "must be finite and non-zero");
    if (!(act.kp > 0 && std::isfinite(act.kp))) throw Error(a.where("kp"), "must be > 0");
    if (!(act.kv > 0 && std::isfinite(act.kv))) throw Error(a.where("kv"), "must be > 0");
    const auto ctrl = a.range("ctrl_range", {-1, 1});
    act.ctrl_min = ctrl.first, act.ctrl_max = ctrl.second;
    if (!(act.ctrl_min < act.ctrl_max) || !std::isfinite(act.ctrl_min) ||
        !std::isfinite(act.ctrl_max))
      throw Error(a.where("ctrl_range"), "expected finite [low, high] with low < high");
    if (a.has("force_range")) {
      const auto force = a.range("force_range", {0, 0});
      act.force_limited = true;
      act.force_min = force.first, act.force_max = force.second;
      if (!(act.force_min < act.force_max) || !std::isfinite(act.force_min) ||
          !std::isfinite(act.force_max))
        throw Error(a.where("force_range"), "expected finite [low, high] with low < high");
    }
    out.push_back(std::move(act));
  });
  return out;
}

// [corruption]: the sensor and actuator model (observation dropout, action delays).
void read_corruption(const Reader& root, SceneSpec& spec) {
  const toml::table* table = root.table("corruption");
  if (!table) return;
  Reader c(root.file(), *table, "corruption.");
  c.only({"obs_dropout", "action_delay", "action_delay_heldout"});
  spec.obs_dropout = c.number("obs_dropout", 0.0);
  if (spec.obs_dropout < 0 || spec.obs_dropout >= 1)
    throw Error(c.where("obs_dropout"), "must be in [0, 1)");
  const auto delay = c.range("action_delay", {0, 0});
  if (delay.first < 0 || delay.second > 100 || delay.first != std::floor(delay.first) ||
      delay.second != std::floor(delay.second))
    throw Error(c.where("action_delay"), "expected whole control steps in [0, 100]");
  spec.action_delay_min = static_cast<int>(delay.first);
  spec.action_delay_max = static_cast<int>(delay.second);
  if (c.has("action_delay_heldout")) {
    const auto held = c.range("action_delay_heldout", delay);
    if (held.first < 0 || held.second > 100 || held.first != std::floor(held.first) ||
        held.second != std::floor(held.second))
      throw Error(c.where("action_delay_heldout"), "expected whole control steps in [0, 100]");
    if (held.first > delay.first || held.second < delay.second)
      throw Error(c.where("action_delay_heldout"),
                  "held-out delays [" + num(held.first) + ", " + num(held.second) +
                      "] must contain action_delay [" + num(delay.first) + ", " +
                      num(delay.second) + "]");
    spec.heldout_delay_min = static_cast<int>(held.first);
    spec.heldout_delay_max = static_cast<int>(held.second);
  }
}

// [train.ppo]: the scene's PPO recipe. Ranges are the learner's own checks, made here so that a
// bad recipe is refused with its line when the scene loads, not when a run starts.
void read_train(const Reader& root, SceneSpec& spec) {
  const toml::table* table = root.table("train");
  if (!table) return;
  Reader train(root.file(), *table, "train.", root.errors());
  train.only({"ppo"});
  const toml::table* ppo_table = train.table("ppo");
  if (!ppo_table) return;
  Reader p(root.file(), *ppo_table, "train.ppo.", root.errors());
  p.only({"steps", "envs", "horizon", "hidden", "epochs", "minibatches", "lr", "gamma", "lambda",
          "entropy", "init_log_std"});
  PpoRecipe& r = spec.ppo_recipe;
  if (p.has("steps")) {
    const double steps = p.number("steps", 0);
    if (!(steps >= 1 && steps <= 1e15 && steps == std::floor(steps)))
      throw Error(p.where("steps"), "expected a whole number of env steps in [1, 1e15]");
    r.steps = static_cast<std::int64_t>(steps);
  }
  auto count = [&](const char* key, std::optional<int>& out, int max) {
    if (!p.has(key)) return;
    const int v = p.integer(key, 0);
    if (v < 1 || v > max) throw Error(p.where(key), "must be in [1, " + std::to_string(max) + "]");
    out = v;
  };
  count("envs", r.envs, 1 << 20);
  count("horizon", r.horizon, 1 << 16);
  count("hidden", r.hidden, 1 << 14);
  count("epochs", r.epochs, 1000);
  count("minibatches", r.minibatches, 1 << 20);
  auto real = [&](const char* key, std::optional<double>& out, double lo, double hi,
                  bool open_low) {
    if (!p.has(key)) return;
    const double v = p.number(key, 0);
    if (!(open_low ? v > lo : v >= lo) || !(v <= hi))
      throw Error(p.where(key), std::string("must be in ") + (open_low ? "(" : "[") + num(lo) +
                                    ", " + num(hi) + "]");
    out = v;
  };
  real("lr", r.lr, 0, 1, true);
  real("gamma", r.gamma, 0, 1, false);
  real("lambda", r.lambda, 0, 1, false);
  real("entropy", r.entropy, 0, 1, false);
  real("init_log_std", r.init_log_std, -10, 2, false);
}

fs::path resolve_model_path(const fs::path& spec_file, const std::string& model,
                            const SourceLocation& where) {
  const fs::path p(model);
  for (const fs::path& candidate :
       {p.is_absolute() ? p : spec_file.parent_path() / p, engine::asset_dir() / p})
    if (engine::path_exists(candidate)) return candidate;
  throw Error(where, "model '" + model + "' not found next to the spec or in " +
                         engine::asset_dir().string());
}

// [reset]: the keyframe by name and the noise on positions and velocities.
void read_reset(const fs::path& name, const toml::table& root, const Reader& r, SceneSpec& spec) {
  const toml::node* node = root.get("reset");
  if (!node) return;
  const toml::table* table = node->as_table();
  if (!table) throw Error(r.where("reset"), "expected a table ([reset])");
  Reader reset(name, *table, "reset.", r.errors());
  reset.only({"keyframe", "qpos_noise", "qvel_noise"});
  spec.reset_keyframe = reset.text("keyframe", "", &spec.keyframe_where);
  spec.reset.qpos_noise = reset.number("qpos_noise", spec.reset.qpos_noise);
  spec.reset.qvel_noise = reset.number("qvel_noise", spec.reset.qvel_noise);
  if (spec.reset.qpos_noise < 0) throw Error(reset.where("qpos_noise"), "must be >= 0");
  if (spec.reset.qvel_noise < 0) throw Error(reset.where("qvel_noise"), "must be >= 0");
}

}  // namespace

SceneSpec parse_scene(const std::string& text, const fs::path& name) {
  toml::table root;
  try {
    root = toml::parse(text, name.string());
  } catch (const toml::parse_error& e) {
    throw Error(at(name, e.source(), ""), std::string(e.description()));
  }
  SceneSpec spec;
  spec.file = name;
  // Every key and [[table]] entry is checked even after an error, so that one run lists them all.
  Errors errors;
  detail::check_finite(name, root, "", errors);
  Reader r(name, root, "", &errors);
  r.only({"name", "description", "model", "control_hz", "episode_seconds", "action_repeat",
          "memory_margin", "reset", "observation", "reward", "termination", "randomize",
          "procedural", "corruption", "camera", "actuator", "train"});
  errors.attempt([&] { spec.name = r.text("name", name.stem().string()); });
  errors.attempt([&] { spec.description = r.text("description", ""); });
  errors.attempt([&] {
    const std::string model = r.required_text("model");
    if (model.find_first_not_of(" \t") == std::string::npos)
      throw Error(r.where("model"), "is empty: name the robot's MJCF (.xml) or URDF (.urdf) file");
    spec.model = resolve_model_path(name, model, r.where("model"));
  });
  errors.attempt([&] {
    spec.control_hz = r.number("control_hz", spec.control_hz, &spec.control_where);
    if (!(spec.control_hz > 0 && spec.control_hz <= 1e6))
      throw Error(spec.control_where, "must be in (0, 1e6] Hz");
  });
  errors.attempt([&] {
    spec.episode_seconds = r.number("episode_seconds", spec.episode_seconds);
    // At most a billion control steps: the step counter is an int.
    if (!(spec.episode_seconds > 0 && spec.episode_seconds * spec.control_hz <= 1e9))
      throw Error(r.where("episode_seconds"),
                  "must be > 0 and at most 1e9 control steps (episode_seconds x control_hz)");
  });
  errors.attempt([&] {
    spec.action_repeat = r.integer("action_repeat", spec.action_repeat);
    if (spec.action_repeat < 0)
      throw Error(r.where("action_repeat"), "must be >= 1 (or 0: the learner's default)");
  });
  errors.attempt([&] {
    spec.memory_margin = r.number("memory_margin", spec.memory_margin);
    if (!(spec.memory_margin >= 1 || spec.memory_margin == 0))
      throw Error(r.where("memory_margin"),
                  "must be >= 1 (the arena is this many times the probe's peak use) or 0 "
                  "(MuJoCo's defaults)");
  });
  errors.attempt([&] { read_reset(name, root, r, spec); });
  errors.attempt(
      [&] { spec.observations = read_terms(r, "observation", kObservationTerms, "observation"); });
  errors.attempt([&] { spec.rewards = read_terms(r, "reward", kRewardTerms, "reward"); });
  errors.attempt(
      [&] { spec.terminations = read_terms(r, "termination", kTerminationTerms, "termination"); });
  errors.attempt([&] { spec.randomize = read_randomize(r); });
  errors.attempt([&] { spec.procedural = read_procedural(r); });
  errors.attempt([&] { spec.cameras = read_cameras(r); });
  errors.attempt([&] { spec.actuators = read_actuators(r); });
  errors.attempt([&] { read_corruption(r, spec); });
  errors.attempt([&] { read_train(r, spec); });
  errors.throw_if_any();
  return spec;
}

SceneSpec load_scene(const fs::path& file) {
  if (!engine::path_exists(file))
    throw Error(SourceLocation{.file = file.string()}, "no such scene file");
  std::ifstream in(file);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "scene file is not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scene(text.str(), file);
}

}  // namespace simlab::scenes
