#include "scenes/scene.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <oneapi/tbb/parallel_for.h>
#include <sstream>
#include <toml++/toml.h>

#include "engine/core/assets.h"
#include "engine/core/rng.h"
#include "scenes/terms.h"

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

  // A [low, high] pair, or one number for both; low > high is an error at the key.
  std::pair<double, double> range(const std::string& key,
                                  std::pair<double, double> fallback) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (auto v = node->value<double>()) return {*v, *v};
    const toml::array* pair = node->as_array();
    if (!pair || pair->size() != 2 || !(*pair)[0].value<double>() || !(*pair)[1].value<double>())
      throw Error(where(key), "expected [low, high] (two numbers) or one number");
    const double lo = *(*pair)[0].value<double>(), hi = *(*pair)[1].value<double>();
    if (lo > hi) throw Error(where(key), "low (" + num(lo) + ") > high (" + num(hi) + ")");
    return {lo, hi};
  }

  // A whole number.
  int integer(const std::string& key, int fallback) const {
    const double x = number(key, fallback);
    if (x != std::floor(x)) throw Error(where(key), "expected a whole number, got " + num(x));
    return static_cast<int>(x);
  }

  // An array of strings; a single string is an array of one.
  std::vector<std::string> names(const std::string& key, std::vector<std::string> fallback) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (auto v = node->value<std::string>()) return {*v};
    const toml::array* array = node->as_array();
    if (!array) throw Error(where(key), "expected an array of names, e.g. [\"a\", \"b\"]");
    std::vector<std::string> out;
    for (const auto& n : *array) {
      auto name = n.value<std::string>();
      if (!name) throw Error(where(key), "expected a name (string), got " + type_name(n));
      out.push_back(*name);
    }
    return out;
  }

  // A sub-table ([key]), or null when absent.
  const toml::table* table(const std::string& key) const {
    const toml::node* node = table_.get(key);
    if (!node) return nullptr;
    if (const toml::table* t = node->as_table()) return t;
    throw Error(where(key), "expected a table ([" + prefix_ + key + "])");
  }

  // An array of tables ([[key]]), each read with its path "key[i].".
  template <class F>
  void each(const std::string& key, F&& read) const {
    const toml::node* node = table_.get(key);
    if (!node) return;
    const toml::array* array = node->as_array();
    if (!array)
      throw Error(where(key), "expected an array of tables ([[" + prefix_ + key + "]]), got " +
                                  type_name(*node));
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::table* t = (*array)[i].as_table();
      if (!t) throw Error(at(file_, (*array)[i].source(), prefix_ + key), "expected a table");
      read(Reader(file_, *t, prefix_ + key + "[" + std::to_string(i) + "]."), i);
    }
  }

  // An array, or null when absent or not an array.
  const toml::array* array(const std::string& key) const {
    const toml::node* node = table_.get(key);
    return node ? node->as_array() : nullptr;
  }

  // Three numbers [x, y, z] into `out` (left as is when the key is absent).
  void vec3(const std::string& key, double out[3]) const {
    const toml::node* node = table_.get(key);
    if (!node) return;
    const toml::array* a = node->as_array();
    if (!a || a->size() != 3 || !(*a)[0].value<double>() || !(*a)[1].value<double>() ||
        !(*a)[2].value<double>())
      throw Error(where(key), "expected [x, y, z] (three numbers)");
    for (std::size_t k = 0; k < 3; ++k)
      out[k] = *(*a)[k].value<double>();
  }

  bool has(const std::string& key) const { return table_.get(key) != nullptr; }
  const fs::path& file() const { return file_; }

 private:
  const fs::path& file_;
  const toml::table& table_;
  std::string prefix_;
};

// [[observation]], [[reward]] and [[termination]]: one table per term, checked against its
// section's term table and the keys its kind needs.
std::vector<TermSpec> read_terms(const Reader& root, const std::string& key, const TermTable& table,
                                 const std::string& what) {
  std::vector<TermSpec> terms;
  const bool observation = key == "observation";
  root.each(key, [&](const Reader& r, std::size_t) {
    std::vector<std::string> allowed = {"term", "joint", "body",   "site",   "sensor", "from",
                                        "to",   "axis",  "weight", "target", "min",    "max"};
    if (observation)
      allowed = {"term", "joints", "body",   "site",  "sensor",
                 "from", "to",     "prefix", "count", "noise"};
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
    t.joints = r.names(observation ? "joints" : "joint", {});
    t.body = r.text("body", "");
    t.site = r.text("site", "");
    t.sensor = r.text("sensor", "");
    t.from = r.text("from", "");
    t.to = r.text("to", "");
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
      const bool present = need == "min|max"  ? r.has("min") || r.has("max")
                           : need == "joints" ? !t.joints.empty()
                           : need == "joint"  ? t.joints.size() == 1
                                              : r.has(need);
      if (!present)
        throw Error(r.where(need == "min|max" ? "min" : need),
                    "term '" + t.term + "' needs " +
                        (need == "min|max" ? std::string("min or max") : need));
    }
    terms.push_back(std::move(t));
  });
  return terms;
}

using engine::physics::Param;
using RS = RandomizeSpec;
struct ParamEntry {
  std::vector<Param> params;
  RS::State state = RS::State::kNone;
  RS::Operation default_op = RS::Operation::kScale;
  bool positive = false;  // negative values are impossible
};
const std::vector<std::pair<std::string, ParamEntry>> kParams = {
    {"body_mass", {{Param::kBodyMass}, RS::State::kNone, RS::Operation::kScale, true}},
    {"body_com",
     {{Param::kBodyComX, Param::kBodyComY, Param::kBodyComZ},
      RS::State::kNone,
      RS::Operation::kAdd}},
    {"geom_friction", {{Param::kGeomFriction}, RS::State::kNone, RS::Operation::kScale, true}},
    {"geom_softness", {{Param::kGeomSoftness}, RS::State::kNone, RS::Operation::kScale, true}},
    {"geom_rgb",
     {{Param::kGeomR, Param::kGeomG, Param::kGeomB}, RS::State::kNone, RS::Operation::kAbsolute}},
    {"joint_damping", {{Param::kJointDamping}, RS::State::kNone, RS::Operation::kScale, true}},
    {"joint_armature", {{Param::kJointArmature}, RS::State::kNone, RS::Operation::kScale, true}},
    {"joint_friction_loss",
     {{Param::kJointFrictionLoss}, RS::State::kNone, RS::Operation::kScale, true}},
    {"actuator_gain", {{Param::kActuatorGain}}},
    {"actuator_force_limit",
     {{Param::kActuatorForceLimit}, RS::State::kNone, RS::Operation::kScale, true}},
    {"gravity_z", {{Param::kGravityZ}}},
    {"light_pos",
     {{Param::kLightPosX, Param::kLightPosY, Param::kLightPosZ},
      RS::State::kNone,
      RS::Operation::kAdd}},
    {"light_diffuse", {{Param::kLightDiffuse}, RS::State::kNone, RS::Operation::kScale, true}},
    {"camera_pos",
     {{Param::kCameraPosX, Param::kCameraPosY, Param::kCameraPosZ},
      RS::State::kNone,
      RS::Operation::kAdd}},
    {"joint_position", {{}, RS::State::kJointPosition, RS::Operation::kAdd}},
    {"joint_velocity", {{}, RS::State::kJointVelocity, RS::Operation::kAdd}},
    {"push", {{}, RS::State::kPush, RS::Operation::kAdd}},
};

std::vector<RandomizeSpec> read_randomize(const Reader& root) {
  std::vector<RandomizeSpec> out;
  using D = RandomizeSpec::Distribution;
  using Op = RandomizeSpec::Operation;
  root.each("randomize", [&](const Reader& r, std::size_t) {
    r.only({"param", "targets", "mode", "interval_seconds", "distribution", "range", "heldout",
            "operation"});
    RandomizeSpec t;
    t.param_name = r.required_text("param");
    t.where = r.where("param");
    const ParamEntry entry = pick(kParams, t.param_name, t.where, "parameter");
    t.params = entry.params;
    t.state = entry.state;
    t.mode = pick<RS::Mode>({{"startup", RS::Mode::kStartup},
                             {"reset", RS::Mode::kReset},
                             {"interval", RS::Mode::kInterval}},
                            r.text("mode", "reset"), r.where("mode"), "mode");
    if (t.state != RS::State::kNone && t.mode == RS::Mode::kStartup)
      throw Error(r.where("mode"), t.param_name +
                                       " changes the state, which every reset sets anew: use mode "
                                       "\"reset\" (initial state) or \"interval\"");
    t.interval_seconds = r.number("interval_seconds", 0.0);
    if (t.mode == RS::Mode::kInterval && t.interval_seconds <= 0)
      throw Error(r.where("interval_seconds"), "mode \"interval\" needs interval_seconds > 0");
    if (t.mode != RS::Mode::kInterval && r.has("interval_seconds"))
      throw Error(r.where("interval_seconds"), "only mode \"interval\" takes interval_seconds");
    t.distribution = pick<D>(
        {{"uniform", D::kUniform}, {"log_uniform", D::kLogUniform}, {"gaussian", D::kGaussian}},
        r.text("distribution", "uniform"), r.where("distribution"), "distribution");
    const std::string default_op = entry.default_op == Op::kScale ? "scale"
                                   : entry.default_op == Op::kAdd ? "add"
                                                                  : "absolute";
    t.operation = pick<Op>({{"scale", Op::kScale}, {"add", Op::kAdd}, {"absolute", Op::kAbsolute}},
                           r.text("operation", default_op), r.where("operation"), "operation");
    if (t.state == RS::State::kPush && t.operation != Op::kAdd)
      throw Error(r.where("operation"), "a push adds a velocity: use operation = \"add\"");
    t.targets_where = r.where("targets");
    t.targets = r.names("targets", {"*"});
    const SourceLocation range_where = r.where("range");
    const toml::array* pair = r.array("range");
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
    const double lowest = t.distribution == D::kGaussian ? t.a - 3 * t.b : t.a;
    if (entry.positive && t.operation != Op::kAdd && lowest < 0)
      throw Error(range_where, "a negative " + t.param_name + " is impossible (range reaches " +
                                   num(lowest) + ")");
    if (r.has("heldout")) {
      // The held-out range: the same shape as `range`, containing it.
      const SourceLocation& w = t.heldout_where = r.where("heldout");
      const toml::array* held = r.array("heldout");
      if (!held || held->size() != 2 || !(*held)[0].value<double>() || !(*held)[1].value<double>())
        throw Error(w, t.distribution == D::kGaussian
                           ? "expected heldout = [mean, stddev]"
                           : "expected heldout = [low, high] (two numbers)");
      t.has_heldout = true;
      t.heldout_a = *(*held)[0].value<double>();
      t.heldout_b = *(*held)[1].value<double>();
      const std::string train = "[" + num(t.a) + ", " + num(t.b) + "]";
      const std::string given = "[" + num(t.heldout_a) + ", " + num(t.heldout_b) + "]";
      if (t.distribution == D::kGaussian) {
        if (t.heldout_a != t.a || t.heldout_b < t.b)
          throw Error(w, "held-out " + given + " must keep the mean of range " + train +
                             " and a stddev >= " + num(t.b));
      } else {
        if (t.heldout_a > t.heldout_b)
          throw Error(w, "low (" + num(t.heldout_a) + ") > high (" + num(t.heldout_b) + ")");
        if (t.heldout_a > t.a || t.heldout_b < t.b)
          throw Error(w, "held-out range " + given + " must contain the training range " + train);
        if (t.distribution == D::kLogUniform && t.heldout_a <= 0)
          throw Error(w, "log_uniform needs low > 0, got " + num(t.heldout_a));
      }
      const double held_lowest =
          t.distribution == D::kGaussian ? t.heldout_a - 3 * t.heldout_b : t.heldout_a;
      if (entry.positive && t.operation != Op::kAdd && held_lowest < 0)
        throw Error(w, "a negative " + t.param_name + " is impossible (held-out range reaches " +
                           num(held_lowest) + ")");
    }
    out.push_back(std::move(t));
  });
  return out;
}

// [procedural]: variants, [[procedural.objects]], [procedural.terrain], [procedural.lights].
ProceduralSpec read_procedural(const Reader& root) {
  ProceduralSpec p;
  const toml::table* table = root.table("procedural");
  if (!table) return p;
  Reader r(root.file(), *table, "procedural.");
  p.where = root.where("procedural");
  r.only({"variants", "objects", "terrain", "lights"});
  p.variants = r.integer("variants", 1);
  if (p.variants < 1 || p.variants > 100000)
    throw Error(r.where("variants"), "must be in [1, 100000], got " + std::to_string(p.variants));
  r.each("objects", [&](const Reader& o, std::size_t i) {
    o.only({"name", "count", "shapes", "size", "mass", "region", "z", "spacing", "friction",
            "contype", "conaffinity"});
    ObjectSpec spec;
    spec.where = o.where("count");
    spec.name = o.text("name", "object" + std::string(i == 0 ? "" : std::to_string(i)));
    const auto count = o.range("count", {1, 1});
    spec.count_min = static_cast<int>(count.first);
    spec.count_max = static_cast<int>(count.second);
    if (spec.count_min < 0 || count.first != std::floor(count.first) ||
        count.second != std::floor(count.second))
      throw Error(o.where("count"), "expected whole numbers >= 0");
    spec.shapes = o.names("shapes", spec.shapes);
    for (const auto& shape : spec.shapes)
      pick<int>({{"box", 0}, {"sphere", 1}, {"cylinder", 2}, {"capsule", 3}}, shape,
                o.where("shapes"), "shape");
    if (spec.shapes.empty()) throw Error(o.where("shapes"), "needs at least one shape");
    std::tie(spec.size_min, spec.size_max) = o.range("size", {spec.size_min, spec.size_max});
    if (spec.size_min <= 0) throw Error(o.where("size"), "sizes must be > 0");
    std::tie(spec.mass_min, spec.mass_max) = o.range("mass", {spec.mass_min, spec.mass_max});
    if (spec.mass_min <= 0) throw Error(o.where("mass"), "a mass must be > 0");
    if (o.has("region")) {
      const toml::array* region = o.array("region");
      if (!region || region->size() != 4)
        throw Error(o.where("region"), "expected [x_min, y_min, x_max, y_max]");
      for (std::size_t k = 0; k < 4; ++k) {
        auto v = (*region)[k].value<double>();
        if (!v) throw Error(o.where("region"), "expected [x_min, y_min, x_max, y_max] (numbers)");
        spec.region[k] = *v;
      }
      if (spec.region[0] >= spec.region[2] || spec.region[1] >= spec.region[3])
        throw Error(o.where("region"), "x_min must be < x_max and y_min < y_max");
    }
    spec.z = o.number("z", spec.z);
    spec.spacing = o.number("spacing", spec.spacing);
    spec.friction = o.number("friction", spec.friction);
    spec.contype = o.integer("contype", spec.contype);
    spec.conaffinity = o.integer("conaffinity", spec.conaffinity);
    if (spec.spacing < 0) throw Error(o.where("spacing"), "must be >= 0");
    if (spec.friction < 0) throw Error(o.where("friction"), "must be >= 0");
    p.objects.push_back(std::move(spec));
  });
  if (const toml::table* terrain = r.table("terrain")) {
    Reader t(root.file(), *terrain, "procedural.terrain.");
    t.only({"kinds", "difficulty", "half_size", "resolution", "max_height", "flat_radius"});
    auto& spec = p.terrain;
    spec.where = r.where("terrain");
    spec.kinds = t.names("kinds", {"rough"});
    for (const auto& kind : spec.kinds)
      pick<int>({{"flat", 0}, {"rough", 1}, {"slopes", 2}, {"stairs", 3}}, kind, t.where("kinds"),
                "terrain kind");
    std::tie(spec.difficulty_min, spec.difficulty_max) =
        t.range("difficulty", {spec.difficulty_min, spec.difficulty_max});
    if (spec.difficulty_min < 0 || spec.difficulty_max > 1)
      throw Error(t.where("difficulty"), "must be within [0, 1]");
    spec.half_size = t.number("half_size", spec.half_size);
    spec.resolution = t.number("resolution", spec.resolution);
    spec.max_height = t.number("max_height", spec.max_height);
    spec.flat_radius = t.number("flat_radius", spec.flat_radius);
    if (spec.half_size <= 0) throw Error(t.where("half_size"), "must be > 0");
    if (spec.resolution <= 0 || 2 * spec.half_size / spec.resolution > 1000)
      throw Error(t.where("resolution"), "must be > 0, with at most 1000 cells per side");
    if (spec.max_height <= 0) throw Error(t.where("max_height"), "must be > 0");
  }
  if (const toml::table* lights = r.table("lights")) {
    Reader l(root.file(), *lights, "procedural.lights.");
    l.only({"count", "height", "diffuse"});
    auto& spec = p.lights;
    spec.where = r.where("lights");
    const auto count = l.range("count", {1, 1});
    spec.count_min = static_cast<int>(count.first);
    spec.count_max = static_cast<int>(count.second);
    if (spec.count_min < 0 || spec.count_max > 8)
      throw Error(l.where("count"), "must be within [0, 8]");
    std::tie(spec.height_min, spec.height_max) =
        l.range("height", {spec.height_min, spec.height_max});
    std::tie(spec.diffuse_min, spec.diffuse_max) =
        l.range("diffuse", {spec.diffuse_min, spec.diffuse_max});
  }
  return p;
}

}  // namespace

std::string param_label(Param param) {
  for (const auto& [name, entry] : kParams)
    for (std::size_t k = 0; k < entry.params.size(); ++k)
      if (entry.params[k] == param) {
        if (entry.params.size() == 1) return name;
        return name + "." + (name == "geom_rgb" ? "rgb" : "xyz")[k];
      }
  return "?";
}

std::vector<ParamChange> randomized_params(const engine::physics::Model& model,
                                           const engine::physics::World& world) {
  std::vector<ParamChange> changes;
  if (!world.has_own_parameters()) return changes;  // it shares the model: nothing differs
  for (int p = 0; p <= static_cast<int>(Param::kCameraPosZ); ++p) {
    const auto param = static_cast<Param>(p);
    const auto names = model.param_names(param);
    for (int i = 0; i < static_cast<int>(names.size()); ++i) {
      const double base = model.param_default(param, i), value = world.param(param, i);
      if (value != base) changes.push_back({param, i, names[i], value, base});
    }
  }
  return changes;
}

namespace {

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
  r.only({"name", "description", "model", "control_hz", "episode_seconds", "action_repeat", "reset",
          "observation", "reward", "termination", "randomize", "procedural", "corruption",
          "camera"});
  spec.name = r.text("name", name.stem().string());
  spec.description = r.text("description", "");
  spec.model = resolve_model_path(name, r.required_text("model"), r.where("model"));
  spec.control_hz = r.number("control_hz", spec.control_hz, &spec.control_where);
  if (spec.control_hz <= 0) throw Error(spec.control_where, "must be > 0");
  spec.episode_seconds = r.number("episode_seconds", spec.episode_seconds);
  if (spec.episode_seconds <= 0) throw Error(r.where("episode_seconds"), "must be > 0");
  spec.action_repeat = r.integer("action_repeat", spec.action_repeat);
  if (spec.action_repeat < 0)
    throw Error(r.where("action_repeat"), "must be >= 1 (or 0: the learner's default)");

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
  spec.observations = read_terms(r, "observation", kObservationTerms, "observation");
  spec.rewards = read_terms(r, "reward", kRewardTerms, "reward");
  spec.terminations = read_terms(r, "termination", kTerminationTerms, "termination");
  spec.randomize = read_randomize(r);
  spec.procedural = read_procedural(r);
  r.each("camera", [&](const Reader& c, std::size_t i) {
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
    for (const auto& other : spec.cameras)
      if (other.name == cam.name)
        throw Error(cam.where, "a camera named '" + cam.name + "' exists");
    spec.cameras.push_back(std::move(cam));
  });
  if (const toml::table* table = r.table("corruption")) {
    Reader c(name, *table, "corruption.");
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

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(SourceLocation{.file = file.string()}, "model file is not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Scene compile_scene(const SceneSpec& spec, std::uint64_t seed, int max_variants) {
  const auto start = std::chrono::steady_clock::now();
  Scene scene{.spec = spec};
  const ProceduralSpec& procedural = spec.procedural;
  int count = procedural.empty() ? 1 : procedural.variants;
  if (max_variants > 0) count = std::min(count, max_variants);

  // Variants: generated and compiled in parallel (MuJoCo's parser itself takes one at a time).
  std::vector<engine::physics::ModelSource> sources(static_cast<std::size_t>(count));
  scene.variants.resize(static_cast<std::size_t>(count));
  if (procedural.empty()) {
    sources[0] = engine::physics::ModelSource::file(spec.model);
    scene.variants[0].model = engine::physics::load_model(sources[0], spec.backend);
  } else {
    const std::string base = read_text(spec.model);
    scene.variant_summary.resize(static_cast<std::size_t>(count));
    tbb::parallel_for(0, count, [&](int v) {
      auto generated = generate_variant(procedural, base, seed, v);
      // Named beside the base model so that its relative asset paths still resolve.
      auto& source = sources[v];
      source.path = spec.model.parent_path() / (spec.model.stem().string() + "-" + spec.name +
                                                "-v" + std::to_string(v) + ".xml");
      source.text = std::move(generated.mjcf);
      source.heightfields = std::move(generated.heightfields);
      try {
        scene.variants[v].model = engine::physics::load_model(source, spec.backend);
      } catch (const Error& e) {
        throw Error(procedural.where, "variant " + std::to_string(v) + " (" + generated.summary +
                                          ") does not compile: " + e.what());
      }
      scene.variant_summary[v] = std::move(generated.summary);
    });
  }
  scene.sources = std::move(sources);
  scene.model = scene.variants[0].model;
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

  // Cameras that follow a body need it in every variant.
  for (const auto& cam : spec.cameras) {
    if (cam.track.empty()) continue;
    for (const auto& v : scene.variants) {
      const auto bodies = v.model->names(engine::physics::Element::kBody);
      if (std::find(bodies.begin(), bodies.end(), cam.track) == bodies.end())
        throw Error(cam.track_where, "the model has no body '" + cam.track + "' to track" +
                                         suggest(cam.track, bodies));
    }
  }

  // Terms and randomization, resolved against each variant's names.
  std::vector<float> obs_noise;
  for (int v = 0; v < count; ++v) {
    auto& variant = scene.variants[v];
    variant.task = compile_task(spec, *variant.model, v == 0 ? &obs_noise : nullptr);
    variant.randomize = compile_randomizer(spec, *variant.model);
  }
  scene.config.task = scene.variants[0].task;
  scene.config.randomize = scene.variants[0].randomize;
  scene.config.randomize_interval =
      std::any_of(spec.randomize.begin(), spec.randomize.end(),
                  [](const RandomizeSpec& r) { return r.mode == RandomizeSpec::Mode::kInterval; });
  scene.config.corruption.obs_noise = std::move(obs_noise);
  scene.config.corruption.obs_dropout = static_cast<float>(spec.obs_dropout);
  scene.config.corruption.action_delay_min = spec.action_delay_min;
  scene.config.corruption.action_delay_max = spec.action_delay_max;
  scene.config.seed = seed;
  scene.compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return scene;
}

int find_camera(const SceneSpec& spec, const std::string& name) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < spec.cameras.size(); ++i) {
    if (spec.cameras[i].name == name) return static_cast<int>(i);
    names.push_back(spec.cameras[i].name);
  }
  throw Error(SourceLocation{.file = spec.file.string(), .field = "--camera"},
              "scene '" + spec.name + "' has no camera '" + name + "'" +
                  suggest(name, names, "its cameras"));
}

CameraView camera_view(const Scene& scene, int camera, const engine::physics::World& world, int env,
                       std::uint64_t seed) {
  const CameraSpec& cam = scene.spec.cameras.at(static_cast<std::size_t>(camera));
  CameraView view{.fovy = cam.fovy};
  double base[3] = {0, 0, 0};
  if (!cam.track.empty()) {
    const auto& model =
        *scene.variants[static_cast<std::size_t>(env) % scene.variants.size()].model;
    const auto bodies = model.names(engine::physics::Element::kBody);
    const int body =
        static_cast<int>(std::find(bodies.begin(), bodies.end(), cam.track) - bodies.begin());
    world.read(engine::physics::Quantity::kBodyPos, body, base);
  }
  // The jitter is the env's own, on a stream no other draw uses (interval streams are 16 + step).
  engine::Rng rng(seed, static_cast<std::uint32_t>(env), 0,
                  0x40000000u + static_cast<std::uint32_t>(camera));
  // Draw order: pos, then target, then fovy, each only when its noise is on.
  auto jitter = [&rng](double noise) { return noise > 0 ? rng.uniform(-1, 1) * noise : 0.0; };
  for (int k = 0; k < 3; ++k)
    view.eye[k] = base[k] + cam.pos[k] + jitter(cam.pos_noise);
  for (int k = 0; k < 3; ++k)
    view.target[k] = base[k] + cam.target[k] + jitter(cam.target_noise);
  view.fovy += jitter(cam.fovy_noise);
  return view;
}

Randomization parse_randomization(const std::string& word, const std::string& field) {
  if (word == "train") return Randomization::kTrain;
  if (word == "heldout") return Randomization::kHeldout;
  if (word == "none") return Randomization::kNone;
  throw Error(SourceLocation{.field = field}, "'" + word + "': expected train, heldout or none" +
                                                  suggest(word, {"train", "heldout", "none"}));
}

const char* randomization_name(Randomization r) {
  switch (r) {
    case Randomization::kTrain:
      return "train";
    case Randomization::kHeldout:
      return "heldout";
    case Randomization::kNone:
      return "none";
  }
  return "?";
}

bool has_heldout(const SceneSpec& spec) {
  return spec.heldout_delay_min >= 0 ||
         std::any_of(spec.randomize.begin(), spec.randomize.end(),
                     [](const RandomizeSpec& r) { return r.has_heldout; });
}

SceneSpec with_randomization(SceneSpec spec, Randomization r) {
  switch (r) {
    case Randomization::kTrain:
      break;
    case Randomization::kNone:
      // Physical and visual randomization and pushes go; where episodes start stays (the task).
      std::erase_if(spec.randomize, [](const RandomizeSpec& t) {
        return t.state == RandomizeSpec::State::kNone || t.state == RandomizeSpec::State::kPush;
      });
      break;
    case Randomization::kHeldout:
      if (!has_heldout(spec))
        throw Error(SourceLocation{.file = spec.file.string(), .field = "--randomization"},
                    "heldout: scene '" + spec.name +
                        "' declares no held-out ranges (add heldout = [low, high] to a "
                        "[[randomize]] term, or action_delay_heldout to [corruption])");
      for (auto& t : spec.randomize)
        t.draw_heldout = t.has_heldout;
      if (spec.heldout_delay_min >= 0) {
        if (spec.heldout_delay_max > spec.action_delay_max) {
          spec.action_delay_min = spec.action_delay_max + 1;
          spec.action_delay_max = spec.heldout_delay_max;
        } else if (spec.heldout_delay_min < spec.action_delay_min) {
          spec.action_delay_max = spec.action_delay_min - 1;
          spec.action_delay_min = spec.heldout_delay_min;
        }
      }
      break;
  }
  return spec;
}

std::unique_ptr<engine::VectorEnv> make_env(const Scene& scene, int num_envs, int num_threads,
                                            std::uint64_t seed, bool snapshots, int action_repeat) {
  auto config = scene.config;
  config.num_envs = num_envs;
  config.num_threads = num_threads;
  config.seed = seed;
  config.snapshots = snapshots;
  config.action_repeat = action_repeat;
  return std::make_unique<engine::VectorEnv>(scene.variants, std::move(config));
}

}  // namespace simlab::scenes
