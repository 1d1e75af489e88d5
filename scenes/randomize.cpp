// Domain randomization compiled against one model: target names become element indices once;
// every draw uses the env's own Rng, so results never depend on the thread count.
#include <algorithm>
#include <array>
#include <cmath>

#include "scenes/spec_reader.h"
#include "scenes/terms.h"

namespace simlab::scenes {
namespace {

using engine::RandomizePhase;
using engine::physics::Element;
using engine::physics::JointKind;
using engine::physics::Model;
using engine::physics::Param;
using engine::physics::Quantity;
using engine::physics::World;
using Mode = RandomizeSpec::Mode;
using Op = RandomizeSpec::Operation;
using State = RandomizeSpec::State;

struct CompiledRandomize {
  RandomizeSpec spec;
  std::vector<int> indices;                   // target elements
  std::vector<std::vector<double>> defaults;  // [param][target]: the model's value
  int every = 0;                              // interval mode: control steps between draws
  std::vector<bool> push_free;                // push: per target, a free joint (else a slide)
};

// The lowest value a parameter may take: masses and softness stay positive, colours in [0, 1].
double clamp_param(Param p, double value, double fallback) {
  switch (p) {
    case Param::kBodyMass:
      return std::max(value, 1e-6 * std::abs(fallback));
    case Param::kGeomSoftness:
      return std::max(value, 1e-4);
    case Param::kGeomFriction:
    case Param::kJointDamping:
    case Param::kJointArmature:
    case Param::kJointFrictionLoss:
    case Param::kActuatorForceLimit:
    case Param::kLightDiffuse:
      return std::max(value, 0.0);
    case Param::kGeomR:
    case Param::kGeomG:
    case Param::kGeomB:
      return std::clamp(value, 0.0, 1.0);
    default:
      return value;
  }
}

// A held-out draw: from [heldout_a, heldout_b] minus [a, b], the two bands chosen by width (in
// log space for log_uniform), with one uniform number as a training draw takes; from the wider
// gaussian; from the training range when the held-out range adds nothing.
double draw_heldout(const RandomizeSpec& s, engine::Rng& rng) {
  using D = RandomizeSpec::Distribution;
  if (s.distribution == D::kGaussian) return rng.normal(s.heldout_a, s.heldout_b);
  const bool log = s.distribution == D::kLogUniform;
  auto map = [log](double x) { return log ? std::log(x) : x; };
  const double lo = map(s.heldout_a), a = map(s.a), b = map(s.b), hi = map(s.heldout_b);
  const double below = a - lo, above = hi - b;
  if (!(below + above > 0)) {
    const double x = rng.uniform(a, b);
    return log ? std::exp(x) : x;
  }
  const double u = rng.uniform(0.0, below + above);
  const double x = u < below ? lo + u : b + (u - below);
  return log ? std::exp(x) : x;
}

double draw(const RandomizeSpec& s, engine::Rng& rng) {
  using D = RandomizeSpec::Distribution;
  if (s.draw_heldout) return draw_heldout(s, rng);
  switch (s.distribution) {
    case D::kUniform:
      return rng.uniform(s.a, s.b);
    case D::kLogUniform:
      return std::exp(rng.uniform(std::log(s.a), std::log(s.b)));
    case D::kGaussian:
      return rng.normal(s.a, s.b);
  }
  return s.a;
}

double apply(Op op, double base, double x) {
  return op == Op::kScale ? base * x : op == Op::kAdd ? base + x : x;
}

// Elements named by `targets`: exact names, "*" for all, or "prefix*" for every name that starts
// with prefix (procedural objects: "object*"). A prefix may match nothing in a variant.
std::vector<int> resolve_targets(const RandomizeSpec& t, const std::vector<std::string>& names,
                                 const std::function<bool(int)>& eligible) {
  std::vector<int> out;
  for (const auto& target : t.targets) {
    if (!target.empty() && target.back() == '*') {
      const std::string prefix = target.substr(0, target.size() - 1);
      for (int i = 0; i < static_cast<int>(names.size()); ++i)
        if (names[i].rfind(prefix, 0) == 0 && eligible(i)) out.push_back(i);
      continue;
    }
    const auto it = std::find(names.begin(), names.end(), target);
    if (it == names.end())
      throw Error(t.targets_where, "the model has no element '" + target + "' for " + t.param_name +
                                       suggest(target, names));
    if (!eligible(static_cast<int>(it - names.begin()))) {
      std::vector<std::string> fit;
      for (int i = 0; i < static_cast<int>(names.size()); ++i)
        if (eligible(i)) fit.push_back(names[i]);
      throw Error(t.targets_where, "'" + target + "' cannot take " + t.param_name +
                                       suggest(target, fit, "it applies to"));
    }
    out.push_back(static_cast<int>(it - names.begin()));
  }
  return out;
}

void apply_state(const CompiledRandomize& c, World& world, engine::Rng& rng) {
  const auto& s = c.spec;
  for (std::size_t k = 0; k < c.indices.size(); ++k) {
    const int joint = c.indices[k];
    std::array<double, 6> v{};
    if (s.state == State::kPush) {
      // A shove: a horizontal velocity change of a free joint (dofs vx, vy), or a change of a
      // slide joint's velocity along its axis (a planar robot's root, such as the cheetah's rootx).
      world.read(Quantity::kJointVel, joint, v);
      v[0] += draw(s, rng);
      if (c.push_free[k]) v[1] += draw(s, rng);
      world.write(Quantity::kJointVel, joint, v);
      continue;
    }
    const Quantity q = s.state == State::kJointPosition ? Quantity::kJointPos : Quantity::kJointVel;
    world.read(q, joint, v);
    v[0] = apply(s.operation, v[0], draw(s, rng));
    world.write(q, joint, v);
  }
}

void apply_params(const CompiledRandomize& c, World& world, engine::Rng& rng) {
  const auto& s = c.spec;
  for (std::size_t p = 0; p < s.params.size(); ++p)
    for (std::size_t k = 0; k < c.indices.size(); ++k) {
      const double base = c.defaults[p][k];
      world.set_param(s.params[p], c.indices[k],
                      clamp_param(s.params[p], apply(s.operation, base, draw(s, rng)), base));
    }
}

// A stiffer contact than the model can step would be silently raised to its floor (MuJoCo's
// refsafe: 2 x timestep), so the randomization would not do what the spec says: refused.
void check_time_constants(const RandomizeSpec& t, const Model& model,
                          const std::vector<std::string>& names, const std::vector<int>& indices,
                          const std::vector<double>& defaults) {
  const double floor = model.info().min_time_constant;
  if (floor <= 0 || t.distribution == RandomizeSpec::Distribution::kGaussian) return;
  const double low = t.has_heldout ? std::min(t.a, t.heldout_a) : t.a;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const double lowest = apply(t.operation, defaults[k], low);
    if (lowest < floor - 1e-12)
      throw Error(t.where, "geom '" + names[static_cast<std::size_t>(indices[k])] +
                               "' would get a contact time constant of " + detail::num(lowest) +
                               " s, below the " + detail::num(floor) +
                               " s (2 x timestep) that MuJoCo silently raises it to: add <flag "
                               "refsafe=\"disable\"/> to the model's <option>, or narrow the "
                               "range");
  }
}

}  // namespace

engine::Randomizer compile_randomizer(const SceneSpec& spec, const Model& model) {
  std::vector<CompiledRandomize> terms;
  for (const auto& t : spec.randomize) {
    CompiledRandomize c{.spec = t};
    if (t.state != State::kNone) {
      // State terms act on joints: hinge/slide for positions and velocities, free or slide for
      // pushes.
      const auto names = model.names(Element::kJoint);
      const auto& kinds = model.info().joint_kinds;
      c.indices = resolve_targets(t, names, [&](int j) {
        if (t.state != State::kPush) return model.quantity_dim(Quantity::kJointPos, j) == 1;
        return kinds[j] == JointKind::kFree || kinds[j] == JointKind::kSlide;
      });
      if (t.state == State::kPush)
        for (int j : c.indices)
          c.push_free.push_back(kinds[j] == JointKind::kFree);
    } else {
      const auto names = model.names(engine::physics::param_element(t.params[0]));
      c.indices = resolve_targets(t, names, [](int) { return true; });
      for (Param p : t.params) {
        std::vector<double> values;
        for (int i : c.indices) {
          values.push_back(model.param_default(p, i));
          if (t.operation == Op::kScale && p == Param::kActuatorForceLimit && values.back() >= 1e9)
            throw Error(t.where, "actuator '" + names[i] +
                                     "' has no force limit to scale; use operation = "
                                     "\"absolute\"");
        }
        if (p == Param::kGeomSoftness) check_time_constants(t, model, names, c.indices, values);
        c.defaults.push_back(std::move(values));
      }
    }
    if (t.mode == Mode::kInterval)
      c.every = std::max(1, static_cast<int>(std::lround(t.interval_seconds * spec.control_hz)));
    terms.push_back(std::move(c));
  }
  if (terms.empty()) return nullptr;
  return [terms](World& world, engine::Rng& rng, RandomizePhase phase, int step) {
    bool wrote_state = false;
    for (const auto& c : terms) {
      const auto& s = c.spec;
      bool now = false;
      switch (phase) {
        case RandomizePhase::kStartup:
          now = s.mode == Mode::kStartup && s.state == State::kNone;
          break;
        case RandomizePhase::kReset:
          // Interval parameter terms draw at every reset as well, so nothing carries over from
          // one episode into the next: an episode depends only on (seed, env, episode) and its
          // actions, which is what lets a checkpoint rebuild an env (VectorEnv::restore).
          now = (s.mode == Mode::kReset || s.mode == Mode::kInterval) && s.state == State::kNone;
          break;
        case RandomizePhase::kInitialState:
          now = s.mode == Mode::kReset && s.state != State::kNone;
          break;
        case RandomizePhase::kInterval:
          now = s.mode == Mode::kInterval && step % c.every == 0;
          break;
      }
      if (!now) continue;
      if (s.state != State::kNone) {
        apply_state(c, world, rng);
        wrote_state = true;
      } else {
        apply_params(c, world, rng);
      }
    }
    if (wrote_state) world.forward();  // once, after every write of this phase
  };
}

}  // namespace simlab::scenes
