// [[randomize]]: the parameters a spec may randomize, the parser of its terms, and parameters as a
// spec names them (param_label, randomized_params).
#include <cstddef>
#include <string>
#include <toml++/toml.h>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "scenes/scene.h"
#include "scenes/spec_reader.h"
#include "scenes/spec_sections.h"

namespace simlab::scenes {
namespace {

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

}  // namespace

namespace detail {

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
      const std::string train = std::string("[") + num(t.a) + ", " + num(t.b) + "]";
      const std::string given = std::string("[") + num(t.heldout_a) + ", " + num(t.heldout_b) + "]";
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

}  // namespace detail

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

}  // namespace simlab::scenes
