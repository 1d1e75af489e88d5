#include "scenes/scene.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "engine/core/assets.h"

namespace simlab::scenes {
namespace {

namespace fs = std::filesystem;

SourceLocation at(const fs::path& file, const toml::source_region& region, std::string key) {
  return {file.string(), static_cast<int>(region.begin.line), static_cast<int>(region.begin.column),
          std::move(key)};
}

std::string num(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string type_name(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return out.str();
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words)
    out += (out.empty() ? "" : ", ") + w;
  return out.empty() ? "none" : out;
}

// The tail of an "unknown X" message: "; did you mean 'y'?" when a candidate is close, else
// " (label: a, b, c)", or nothing when there is no label.
std::string suggest(const std::string& word, const std::vector<std::string>& candidates,
                    const std::string& label = "") {
  if (auto guess = did_you_mean(word, candidates); !guess.empty())
    return "; did you mean '" + guess + "'?";
  return label.empty() ? "" : " (" + label + ": " + join(candidates) + ")";
}

// The value named `word` in `options`, or an error at `where` naming it and the closest option.
template <class T>
T pick(const std::vector<std::pair<std::string, T>>& options, const std::string& word,
       const SourceLocation& where, const std::string& what) {
  std::vector<std::string> names;
  for (const auto& [name, value] : options) {
    if (name == word) return value;
    names.push_back(name);
  }
  throw Error(where, "unknown " + what + " '" + word + "'" + suggest(word, names, "one of"));
}

// Reads one table, remembering the path of keys ("reward[2].joint") for errors.
class Reader {
 public:
  Reader(const fs::path& file, const toml::table& table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}

  // Every key must be one of `allowed`; an unknown one is named, with the closest known key.
  void only(const std::vector<std::string>& allowed) const {
    for (auto&& [key, value] : table_) {
      const std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      throw Error(at(file_, key.source(), prefix_ + k),
                  "unknown key" + suggest(k, allowed, "known keys"));
    }
  }

  double number(const std::string& key, double fallback, SourceLocation* where = nullptr) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (where) *where = at(file_, node->source(), prefix_ + key);
    if (auto v = node->value<double>()) return *v;
    throw Error(at(file_, node->source(), prefix_ + key),
                "expected a number, got " + type_name(*node));
  }

  std::string text(const std::string& key, const std::string& fallback,
                   SourceLocation* where = nullptr) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (where) *where = at(file_, node->source(), prefix_ + key);
    if (auto v = node->value<std::string>()) return *v;
    throw Error(at(file_, node->source(), prefix_ + key),
                "expected a string, got " + type_name(*node));
  }

  std::string required_text(const std::string& key) const {
    if (!table_.get(key))
      throw Error(at(file_, table_.source(), prefix_ + key), "missing required key");
    return text(key, "");
  }

  SourceLocation where(const std::string& key) const {
    const toml::node* node = table_.get(key);
    return at(file_, node ? node->source() : table_.source(), prefix_ + key);
  }

 private:
  const fs::path& file_;
  const toml::table& table_;
  std::string prefix_;
};

// The terms a spec can name, one table per section: parsing and compiling both read these.
enum class Kind { kUpright, kJointPosition, kJointVelocity, kActionL2, kAlive, kOutOfRange };
using KindTable = std::vector<std::pair<std::string, Kind>>;
const KindTable kRewardKinds = {{"upright", Kind::kUpright},
                                {"joint_position", Kind::kJointPosition},
                                {"joint_velocity", Kind::kJointVelocity},
                                {"action_l2", Kind::kActionL2},
                                {"alive", Kind::kAlive}};
const KindTable kTerminationKinds = {{"joint_out_of_range", Kind::kOutOfRange}};

std::vector<TermSpec> read_terms(const fs::path& file, const toml::table& root,
                                 const std::string& key, const KindTable& kinds) {
  std::vector<TermSpec> terms;
  const toml::node* node = root.get(key);
  if (!node) return terms;
  const toml::array* array = node->as_array();
  if (!array)
    throw Error(at(file, node->source(), key),
                "expected an array of tables ([[" + key + "]]), got " + type_name(*node));
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string prefix = key + "[" + std::to_string(i) + "].";
    const toml::table* table = (*array)[i].as_table();
    if (!table) throw Error(at(file, (*array)[i].source(), key), "expected a table");
    Reader r(file, *table, prefix);
    r.only({"term", "joint", "weight", "target", "min", "max"});
    TermSpec t;
    t.term = r.required_text("term");
    t.where = r.where("term");
    const Kind kind = pick(kinds, t.term, t.where, key + " term");
    SourceLocation joint_where;
    t.joint = r.text("joint", "", &joint_where);
    if (!t.joint.empty()) t.where = joint_where;
    t.weight = r.number("weight", 1.0);
    t.target = r.number("target", 0.0);
    t.min = r.number("min", -1e300);
    t.max = r.number("max", 1e300);
    if (t.min > t.max)
      throw Error(r.where("min"), "min (" + num(t.min) + ") > max (" + num(t.max) + ")");
    const bool needs_joint = kind != Kind::kActionL2 && kind != Kind::kAlive;
    if (needs_joint && t.joint.empty())
      throw Error(r.where("joint"), "term '" + t.term + "' needs a joint");
    terms.push_back(std::move(t));
  }
  return terms;
}

using engine::physics::Param;
const std::vector<std::pair<std::string, Param>> kParams = {{"body_mass", Param::kBodyMass},
                                                            {"geom_friction", Param::kGeomFriction},
                                                            {"joint_damping", Param::kJointDamping},
                                                            {"actuator_gain", Param::kActuatorGain},
                                                            {"gravity_z", Param::kGravityZ}};

std::vector<RandomizeSpec> read_randomize(const fs::path& file, const toml::table& root) {
  std::vector<RandomizeSpec> out;
  const toml::node* node = root.get("randomize");
  if (!node) return out;
  const toml::array* array = node->as_array();
  if (!array)
    throw Error(at(file, node->source(), "randomize"),
                "expected an array of tables ([[randomize]])");
  using D = RandomizeSpec::Distribution;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string prefix = "randomize[" + std::to_string(i) + "].";
    const toml::table* table = (*array)[i].as_table();
    if (!table) throw Error(at(file, (*array)[i].source(), "randomize"), "expected a table");
    Reader r(file, *table, prefix);
    r.only({"param", "targets", "mode", "distribution", "range", "operation"});
    RandomizeSpec t;
    t.param_name = r.required_text("param");
    t.where = r.where("param");
    t.param = pick(kParams, t.param_name, t.where, "parameter");
    t.at_startup = pick<bool>({{"startup", true}, {"reset", false}}, r.text("mode", "reset"),
                              r.where("mode"), "mode");
    t.distribution = pick<D>(
        {{"uniform", D::kUniform}, {"log_uniform", D::kLogUniform}, {"gaussian", D::kGaussian}},
        r.text("distribution", "uniform"), r.where("distribution"), "distribution");
    t.scale = pick<bool>({{"scale", true}, {"absolute", false}}, r.text("operation", "scale"),
                         r.where("operation"), "operation");
    t.targets_where = r.where("targets");
    if (const toml::node* targets = table->get("targets")) {
      const toml::array* names = targets->as_array();
      if (!names) throw Error(t.targets_where, "expected an array of names, e.g. [\"pole\"]");
      for (const auto& n : *names) {
        auto name = n.value<std::string>();
        if (!name)
          throw Error(at(file, n.source(), prefix + "targets"), "expected a name (string)");
        t.targets.push_back(*name);
      }
    } else {
      t.targets = {"*"};
    }
    const SourceLocation range_where = r.where("range");
    const toml::node* range = table->get("range");
    const toml::array* pair = range ? range->as_array() : nullptr;
    if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
      throw Error(range_where, t.distribution == D::kGaussian
                                   ? "expected range = [mean, stddev]"
                                   : "expected range = [low, high] (two numbers)");
    t.a = *(*pair)[0].value<double>();
    t.b = *(*pair)[1].value<double>();
    if (t.distribution == D::kGaussian) {
      if (t.b < 0) throw Error(range_where, "stddev (" + num(t.b) + ") must be >= 0");
    } else if (t.a > t.b) {
      throw Error(range_where, "low (" + num(t.a) + ") > high (" + num(t.b) + ")");
    }
    if (t.distribution == D::kLogUniform && t.a <= 0)
      throw Error(range_where, "log_uniform needs low > 0, got " + num(t.a));
    const bool positive = t.param == Param::kBodyMass || t.param == Param::kGeomFriction ||
                          t.param == Param::kJointDamping;
    const double lowest = t.distribution == D::kGaussian ? t.a - 3 * t.b : t.a;
    if (positive && lowest < 0)
      throw Error(range_where, "a negative " + t.param_name + " is impossible (range reaches " +
                                   num(lowest) + ")");
    out.push_back(std::move(t));
  }
  return out;
}

fs::path resolve_model_path(const fs::path& spec_file, const std::string& model,
                            const SourceLocation& where) {
  const fs::path p(model);
  for (const fs::path& candidate :
       {p.is_absolute() ? p : spec_file.parent_path() / p, engine::asset_dir() / p})
    if (fs::exists(candidate)) return candidate;
  throw Error(where, "model '" + model + "' not found next to the spec or in " +
                         engine::asset_dir().string());
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  // Levenshtein distance; a suggestion must be within a third of the word's length (at least 2).
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
      row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

SceneSpec parse_scene(const std::string& text, const fs::path& name) {
  toml::table root;
  try {
    root = toml::parse(text, name.string());
  } catch (const toml::parse_error& e) {
    throw Error(at(name, e.source(), ""), std::string(e.description()));
  }
  SceneSpec spec;
  spec.file = name;
  Reader r(name, root, "");
  r.only({"name", "description", "model", "control_hz", "episode_seconds", "reset", "reward",
          "termination", "randomize"});
  spec.name = r.text("name", name.stem().string());
  spec.description = r.text("description", "");
  spec.model = resolve_model_path(name, r.required_text("model"), r.where("model"));
  spec.control_hz = r.number("control_hz", spec.control_hz, &spec.control_where);
  if (spec.control_hz <= 0) throw Error(spec.control_where, "must be > 0");
  spec.episode_seconds = r.number("episode_seconds", spec.episode_seconds);
  if (spec.episode_seconds <= 0) throw Error(r.where("episode_seconds"), "must be > 0");

  if (const toml::node* node = root.get("reset")) {
    const toml::table* table = node->as_table();
    if (!table) throw Error(r.where("reset"), "expected a table ([reset])");
    Reader reset(name, *table, "reset.");
    reset.only({"keyframe", "qpos_noise", "qvel_noise"});
    spec.reset_keyframe = reset.text("keyframe", "", &spec.keyframe_where);
    spec.reset.qpos_noise = reset.number("qpos_noise", spec.reset.qpos_noise);
    spec.reset.qvel_noise = reset.number("qvel_noise", spec.reset.qvel_noise);
    if (spec.reset.qpos_noise < 0) throw Error(reset.where("qpos_noise"), "must be >= 0");
    if (spec.reset.qvel_noise < 0) throw Error(reset.where("qvel_noise"), "must be >= 0");
  }
  spec.rewards = read_terms(name, root, "reward", kRewardKinds);
  spec.terminations = read_terms(name, root, "termination", kTerminationKinds);
  spec.randomize = read_randomize(name, root);
  return spec;
}

SceneSpec load_scene(const fs::path& file) {
  if (!fs::exists(file)) throw Error(SourceLocation{.file = file.string()}, "no such scene file");
  std::ifstream in(file);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "scene file is not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scene(text.str(), file);
}

fs::path scene_dir() {
  if (const char* env = std::getenv("SIMLAB_SCENE_DIR"); env && *env) return env;
  return SIMLAB_SCENE_DIR;
}

std::vector<fs::path> builtin_scenes() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(scene_dir(), ec))
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

fs::path resolve_scene(const std::string& name_or_path) {
  if (fs::exists(name_or_path)) return name_or_path;
  const fs::path builtin = scene_dir() / (name_or_path + ".toml");
  if (fs::exists(builtin)) return builtin;
  std::vector<std::string> names;
  for (const auto& p : builtin_scenes())
    names.push_back(p.stem().string());
  throw Error(SourceLocation{.file = name_or_path},
              "no such scene file or built-in scene" + suggest(name_or_path, names, "built-ins"));
}

namespace {

struct CompiledTerm {
  Kind kind;
  int index = -1;  // observation element
  float weight = 1, target = 0;
  double min = 0, max = 0;
};

CompiledTerm compile_term(const TermSpec& t, const engine::Space& obs, const KindTable& kinds) {
  CompiledTerm c;
  c.kind = pick(kinds, t.term, t.where, "term");  // parsed specs pass; C++-built ones may not
  c.weight = static_cast<float>(t.weight);
  c.target = static_cast<float>(t.target);
  c.min = t.min;
  c.max = t.max;
  if (!t.joint.empty()) {
    const std::string group = c.kind == Kind::kJointVelocity ? "qvel/" : "qpos/";
    const auto& names = obs.names();
    const auto it = std::find(names.begin(), names.end(), group + t.joint);
    if (it == names.end()) {
      std::vector<std::string> joints;
      for (const auto& n : names)
        if (n.rfind("qpos/", 0) == 0 && n.find('.') == std::string::npos)
          joints.push_back(n.substr(5));
      throw Error(t.where, "the model has no hinge or slide joint '" + t.joint + "'" +
                               suggest(t.joint, joints));
    }
    c.index = static_cast<int>(it - names.begin());
  }
  return c;
}

float evaluate(const CompiledTerm& c, std::span<const float> obs, std::span<const float> act) {
  switch (c.kind) {
    case Kind::kUpright:  // 1 upright, 0 hanging down
      return c.weight * 0.5f * (1.0f + std::cos(obs[c.index]));
    case Kind::kJointPosition: {
      const float d = obs[c.index] - c.target;
      return -c.weight * d * d;
    }
    case Kind::kJointVelocity:
      return -c.weight * obs[c.index] * obs[c.index];
    case Kind::kActionL2: {
      float sum = 0;
      for (float a : act)
        sum += a * a;
      return -c.weight * sum;
    }
    case Kind::kAlive:
      return c.weight;
    case Kind::kOutOfRange:
      return obs[c.index] < c.min || obs[c.index] > c.max ? 1.0f : 0.0f;
  }
  return 0.0f;
}

}  // namespace

Scene compile_scene(const SceneSpec& spec) {
  Scene scene{.spec = spec,
              .model = engine::physics::load_model(engine::physics::ModelSource::file(spec.model))};
  const auto& info = scene.model->info();

  // Control rate: a whole number of physics steps per control step.
  const double ratio = 1.0 / (spec.control_hz * info.timestep);
  const int frame_skip = static_cast<int>(std::lround(ratio));
  if (frame_skip < 1 || std::abs(ratio - frame_skip) > 1e-6)
    throw Error(spec.control_where,
                num(spec.control_hz) +
                    " Hz is not the physics rate divided by a whole number (the model steps at " +
                    num(1.0 / info.timestep) + " Hz; try " + num(1.0 / info.timestep / 2) + ")");
  scene.config.frame_skip = frame_skip;
  scene.config.max_episode_steps =
      std::max(1, static_cast<int>(std::lround(spec.episode_seconds * spec.control_hz)));

  scene.config.reset = spec.reset;
  if (!spec.reset_keyframe.empty()) {
    const auto& keys = info.keyframes;
    const auto it = std::find(keys.begin(), keys.end(), spec.reset_keyframe);
    if (it == keys.end()) {
      throw Error(spec.keyframe_where, "the model has no keyframe '" + spec.reset_keyframe + "'" +
                                           suggest(spec.reset_keyframe, keys, "it has"));
    }
    scene.config.reset.keyframe = static_cast<int>(it - keys.begin());
  }

  // Randomization: resolve target names to element indices once; draws happen per env.
  struct CompiledRandomize {
    RandomizeSpec spec;
    std::vector<int> indices;
    std::vector<double> defaults;
  };
  std::vector<CompiledRandomize> randomize;
  for (const auto& t : spec.randomize) {
    CompiledRandomize c{.spec = t};
    const auto names = scene.model->param_names(t.param);
    for (const auto& target : t.targets) {
      if (target == "*") {
        for (int i = 0; i < static_cast<int>(names.size()); ++i)
          c.indices.push_back(i);
        continue;
      }
      const auto it = std::find(names.begin(), names.end(), target);
      if (it == names.end()) {
        throw Error(t.targets_where, "the model has no element '" + target + "' for " +
                                         t.param_name + suggest(target, names));
      }
      c.indices.push_back(static_cast<int>(it - names.begin()));
    }
    for (int i : c.indices)
      c.defaults.push_back(scene.model->param_default(t.param, i));
    randomize.push_back(std::move(c));
  }
  if (!randomize.empty())
    scene.config.randomize = [randomize](engine::physics::World& world, engine::Rng& rng,
                                         bool startup) {
      using D = RandomizeSpec::Distribution;
      for (const auto& c : randomize) {
        if (c.spec.at_startup != startup) continue;
        for (std::size_t k = 0; k < c.indices.size(); ++k) {
          const auto& s = c.spec;
          double x = s.distribution == D::kUniform ? rng.uniform(s.a, s.b)
                     : s.distribution == D::kLogUniform
                         ? std::exp(rng.uniform(std::log(s.a), std::log(s.b)))
                         : rng.normal(s.a, s.b);
          double value = s.scale ? c.defaults[k] * x : x;
          // Gaussian tails past the 3-sigma check stay physical: clip to a tiny positive value.
          if (s.param != engine::physics::Param::kActuatorGain &&
              s.param != engine::physics::Param::kGravityZ)
            value = std::max(value, 1e-6 * std::abs(c.defaults[k]));
          world.set_param(s.param, c.indices[k], value);
        }
      }
    };

  std::vector<CompiledTerm> rewards, terminations;
  for (const auto& t : spec.rewards)
    rewards.push_back(compile_term(t, info.observation, kRewardKinds));
  for (const auto& t : spec.terminations)
    terminations.push_back(compile_term(t, info.observation, kTerminationKinds));
  if (!rewards.empty())
    scene.config.task.reward = [rewards](std::span<const float> obs, std::span<const float> act) {
      float r = 0;
      for (const auto& c : rewards)
        r += evaluate(c, obs, act);
      return r;
    };
  if (!terminations.empty())
    scene.config.task.terminated = [terminations](std::span<const float> obs) {
      for (const auto& c : terminations)
        if (evaluate(c, obs, {}) > 0) return true;
      return false;
    };
  return scene;
}

}  // namespace simlab::scenes
