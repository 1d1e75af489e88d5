#include "scenes/terms.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace simlab::scenes {

using engine::physics::Element;
using engine::physics::Model;
using engine::physics::Quantity;
using engine::physics::World;

const TermTable kObservationTerms = {
    {"joint_pos", TermKind::kJointPos},      {"joint_vel", TermKind::kJointVel},
    {"body_pos", TermKind::kBodyPos},        {"body_quat", TermKind::kBodyQuat},
    {"body_z_axis", TermKind::kBodyZAxis},   {"body_heading", TermKind::kBodyHeading},
    {"body_lin_vel", TermKind::kBodyLinVel}, {"body_ang_vel", TermKind::kBodyAngVel},
    {"site_pos", TermKind::kSitePos},        {"offset", TermKind::kOffset},
    {"sensor", TermKind::kSensor},           {"bodies_pos", TermKind::kBodiesPos},
    {"last_action", TermKind::kLastAction}};
const TermTable kRewardTerms = {{"upright", TermKind::kUpright},
                                {"joint_position", TermKind::kJointPosition},
                                {"joint_velocity", TermKind::kJointVelocity},
                                {"action_l2", TermKind::kActionL2},
                                {"alive", TermKind::kAlive},
                                {"body_upright", TermKind::kBodyUpright},
                                {"body_height", TermKind::kBodyHeight},
                                {"body_velocity", TermKind::kBodyVelocity},
                                {"distance", TermKind::kDistance},
                                {"near", TermKind::kNear},
                                {"closing_speed", TermKind::kClosingSpeed},
                                {"contact", TermKind::kContact}};
const TermTable kTerminationTerms = {{"joint_out_of_range", TermKind::kOutOfRange},
                                     {"body_below", TermKind::kBodyBelow},
                                     {"body_tilted", TermKind::kBodyTilted},
                                     {"near", TermKind::kNear},
                                     {"contact", TermKind::kContact}};

std::vector<std::string> required_keys(TermKind kind) {
  switch (kind) {
    case TermKind::kJointPos:
    case TermKind::kJointVel:
      return {"joints"};
    case TermKind::kUpright:
      return {"joint"};
    case TermKind::kJointPosition:
    case TermKind::kJointVelocity:
      return {"joint|joints"};
    case TermKind::kOutOfRange:
      return {"joint", "min|max"};
    case TermKind::kBodyPos:
    case TermKind::kBodyQuat:
    case TermKind::kBodyZAxis:
    case TermKind::kBodyHeading:
    case TermKind::kBodyLinVel:
    case TermKind::kBodyAngVel:
    case TermKind::kBodyUpright:
    case TermKind::kBodyHeight:
    case TermKind::kBodyVelocity:
    case TermKind::kContact:
      return {"body"};
    case TermKind::kBodyBelow:
    case TermKind::kBodyTilted:
      return {"body", "min"};
    case TermKind::kSitePos:
      return {"site"};
    case TermKind::kSensor:
      return {"sensor"};
    case TermKind::kOffset:
    case TermKind::kDistance:
    case TermKind::kClosingSpeed:
      return {"from", "to"};
    case TermKind::kNear:
      return {"from", "to", "max"};
    case TermKind::kBodiesPos:
      return {"prefix", "count"};
    case TermKind::kActionL2:
    case TermKind::kAlive:
    case TermKind::kLastAction:
      return {};
  }
  return {};
}

std::string suggest(const std::string& word, const std::vector<std::string>& candidates,
                    const std::string& label) {
  if (auto guess = did_you_mean(word, candidates); !guess.empty())
    return "; did you mean '" + guess + "'?";
  if (label.empty()) return "";
  std::string list;
  for (const auto& c : candidates)
    list += (list.empty() ? "" : ", ") + c;
  return " (" + label + ": " + (list.empty() ? "none" : list) + ")";
}

namespace {

constexpr int kMaxRead = 16;  // the most values one read returns (a sensor's dim is checked)

// A term with its names resolved to element indices of one model.
struct Compiled {
  TermKind kind;
  Quantity quantity = Quantity::kJointPos;
  std::vector<int> elements;  // joints (observations), or [element], or bodies_pos slots (-1)
  TermDistance points;        // offset, distance, near
  int axis = 0;
  std::vector<int> dims;  // values read per element (observations)
  float weight = 1, target = 0;
  double min = 0, max = 0;
  double tanh_scale = 0;  // distance: 1 - tanh(tanh_scale * d) when > 0
};

int find(const Model& model, Element element, const std::string& name) {
  const auto names = model.names(element);
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// An element the spec names, or an error at the term's key with the closest name.
int resolve(const Model& model, Element element, const std::string& name, const TermSpec& t,
            const char* what) {
  const int i = find(model, element, name);
  if (i < 0)
    throw Error(t.where, std::string("the model has no ") + what + " '" + name + "'" +
                             suggest(name, model.names(element)));
  return i;
}

// A hinge or slide joint (terms that read one angle or position).
// Every hinge and slide joint ("*"): free joints of objects are not the robot's state.
std::vector<int> scalar_joints(const Model& model) {
  std::vector<int> joints;
  const auto names = model.names(Element::kJoint);
  for (int j = 0; j < static_cast<int>(names.size()); ++j)
    if (model.quantity_dim(Quantity::kJointPos, j) == 1) joints.push_back(j);
  return joints;
}

int resolve_scalar_joint(const Model& model, const std::string& name, const TermSpec& t) {
  const int j = find(model, Element::kJoint, name);
  if (j >= 0 && model.quantity_dim(Quantity::kJointPos, j) == 1) return j;
  std::vector<std::string> scalar;
  const auto names = model.names(Element::kJoint);
  for (int k = 0; k < static_cast<int>(names.size()); ++k)
    if (model.quantity_dim(Quantity::kJointPos, k) == 1) scalar.push_back(names[k]);
  throw Error(t.where,
              "the model has no hinge or slide joint '" + name + "'" + suggest(name, scalar));
}

// `from`/`to` of distance terms: a site, else a body.
std::pair<Quantity, int> resolve_point(const Model& model, const std::string& name,
                                       const TermSpec& t) {
  if (int s = find(model, Element::kSite, name); s >= 0) return {Quantity::kSitePos, s};
  if (int b = find(model, Element::kBody, name); b >= 0) return {Quantity::kBodyPos, b};
  auto names = model.names(Element::kSite);
  const auto bodies = model.names(Element::kBody);
  names.insert(names.end(), bodies.begin(), bodies.end());
  throw Error(t.where, "the model has no site or body '" + name + "'" + suggest(name, names));
}

Compiled compile_term(const TermSpec& t, const TermTable& table, const Model& model) {
  Compiled c;
  const auto it = std::find_if(table.begin(), table.end(),
                               [&](const auto& entry) { return entry.first == t.term; });
  if (it == table.end()) {
    std::vector<std::string> names;
    for (const auto& [name, kind] : table)
      names.push_back(name);
    throw Error(t.where, "unknown term '" + t.term + "'" + suggest(t.term, names, "one of"));
  }
  c.kind = it->second;
  c.weight = static_cast<float>(t.weight);
  c.target = static_cast<float>(t.target);
  c.min = t.min;
  c.max = t.max;
  c.tanh_scale = t.tanh_scale;
  c.axis = t.axis;
  auto body = [&](Quantity q) {
    c.quantity = q;
    c.elements = {resolve(model, Element::kBody, t.body, t, "body")};
  };
  switch (c.kind) {
    case TermKind::kJointPos:
    case TermKind::kJointVel: {
      c.quantity = c.kind == TermKind::kJointPos ? Quantity::kJointPos : Quantity::kJointVel;
      for (const auto& name : t.joints) {
        if (name != "*") {
          c.elements.push_back(resolve(model, Element::kJoint, name, t, "joint"));
          continue;
        }
        const auto all = scalar_joints(model);
        c.elements.insert(c.elements.end(), all.begin(), all.end());
      }
      break;
    }
    case TermKind::kBodyPos:
    case TermKind::kBodyHeight:
    case TermKind::kBodyBelow:
      body(Quantity::kBodyPos);
      break;
    case TermKind::kBodyQuat:
      body(Quantity::kBodyQuat);
      break;
    case TermKind::kBodyHeading:  // from the orientation: 2 values
      body(Quantity::kBodyQuat);
      c.dims = {2};
      return c;
    case TermKind::kBodyZAxis:
    case TermKind::kBodyUpright:
    case TermKind::kBodyTilted:
      body(Quantity::kBodyZAxis);
      break;
    case TermKind::kBodyLinVel:
    case TermKind::kBodyVelocity:
      body(Quantity::kBodyLinVel);
      break;
    case TermKind::kBodyAngVel:
      body(Quantity::kBodyAngVel);
      break;
    case TermKind::kContact:
      body(Quantity::kBodyContact);
      break;
    case TermKind::kSitePos:
      c.quantity = Quantity::kSitePos;
      c.elements = {resolve(model, Element::kSite, t.site, t, "site")};
      break;
    case TermKind::kSensor: {
      c.quantity = Quantity::kSensor;
      c.elements = {resolve(model, Element::kSensor, t.sensor, t, "sensor")};
      if (model.quantity_dim(Quantity::kSensor, c.elements[0]) > kMaxRead)
        throw Error(t.where, "sensor '" + t.sensor + "' has more than " + std::to_string(kMaxRead) +
                                 " values");
      break;
    }
    case TermKind::kOffset:
    case TermKind::kDistance:
    case TermKind::kNear:
      c.points = TermDistance(model, t);
      break;
    case TermKind::kClosingSpeed:  // `from` moves, so it is a body: its frame's velocity
      c.points = TermDistance(model, t);
      c.quantity = Quantity::kBodyLinVel;
      c.elements = {find(model, Element::kBody, t.from)};
      if (c.elements[0] < 0)
        throw Error(t.where, "closing_speed needs a body as `from` (its velocity), got '" + t.from +
                                 "'" + suggest(t.from, model.names(Element::kBody)));
      break;
    case TermKind::kBodiesPos:
      // Slots whose body this variant does not have read as zeros with a presence flag of 0.
      for (int k = 0; k < t.count; ++k)
        c.elements.push_back(find(model, Element::kBody, t.prefix + std::to_string(k)));
      break;
    case TermKind::kUpright:
    case TermKind::kOutOfRange:
      c.quantity = Quantity::kJointPos;
      c.elements = {resolve_scalar_joint(model, t.joints.at(0), t)};
      break;
    case TermKind::kJointPosition:
    case TermKind::kJointVelocity:
      // One joint, a list, or "*": the penalty sums over them.
      c.quantity = c.kind == TermKind::kJointPosition ? Quantity::kJointPos : Quantity::kJointVel;
      for (const auto& name : t.joints) {
        if (name != "*") {
          c.elements.push_back(resolve_scalar_joint(model, name, t));
          continue;
        }
        const auto all = scalar_joints(model);
        c.elements.insert(c.elements.end(), all.begin(), all.end());
      }
      break;
    case TermKind::kLastAction:  // one value per actuator, written by the env slot
      c.elements.resize(static_cast<std::size_t>(model.info().action.dim()));
      c.dims.assign(c.elements.size(), 1);
      return c;
    case TermKind::kActionL2:
    case TermKind::kAlive:
      break;
  }
  for (int e : c.elements)
    c.dims.push_back(e >= 0 ? model.quantity_dim(c.quantity, e) : 0);
  return c;
}

// A reward term's value (before its weight), or a termination's (> 0: fires).
double evaluate(const Compiled& c, const World& w, std::span<const float> action) {
  std::array<double, kMaxRead> v{};
  if (!c.elements.empty() && c.kind != TermKind::kBodiesPos) w.read(c.quantity, c.elements[0], v);
  switch (c.kind) {
    case TermKind::kUpright:  // 1 upright, 0 hanging down
      return 0.5 * (1.0 + std::cos(v[0]));
    case TermKind::kJointPosition:
    case TermKind::kJointVelocity: {
      double sum = 0;
      for (std::size_t k = 0; k < c.elements.size(); ++k) {
        if (k > 0) w.read(c.quantity, c.elements[k], v);
        const double e = c.kind == TermKind::kJointPosition ? v[0] - c.target : v[0];
        sum += e * e;
      }
      return -sum;
    }
    case TermKind::kActionL2: {
      double sum = 0;
      for (float a : action)
        sum += static_cast<double>(a) * a;
      return -sum;
    }
    case TermKind::kAlive:
      return 1.0;
    case TermKind::kBodyUpright:
      return v[2];
    case TermKind::kBodyHeight:
      return -(v[2] - c.target) * (v[2] - c.target);
    case TermKind::kBodyVelocity:
      return std::clamp(v[c.axis], c.min, c.max);
    case TermKind::kDistance:  // -d, or a kernel that is 1 at the point and sharp near it
      return c.tanh_scale > 0 ? 1.0 - std::tanh(c.tanh_scale * c.points(w)) : -c.points(w);
    case TermKind::kNear:
      return c.points(w) <= c.max ? 1.0 : 0.0;
    case TermKind::kClosingSpeed: {  // v . (to - from) / |to - from|: -d|to - from|/dt, to at rest
      std::array<double, 3> d{};
      const double r = c.points(w, &d);
      if (r < 1e-9) return 0.0;
      return std::clamp((v[0] * d[0] + v[1] * d[1] + v[2] * d[2]) / r, c.min, c.max);
    }
    case TermKind::kContact:  // a penalty per contact
      return -v[0];
    case TermKind::kOutOfRange:
      return v[0] < c.min || v[0] > c.max ? 1.0 : 0.0;
    case TermKind::kBodyBelow:   // v: the body's position
    case TermKind::kBodyTilted:  // v: its z axis
      return v[2] < c.min ? 1.0 : 0.0;
    default:
      return 0.0;
  }
}

// An observation term's values.
void observe_term(const Compiled& c, const World& w, float*& out) {
  std::array<double, kMaxRead> v{};
  switch (c.kind) {
    case TermKind::kOffset: {
      std::array<double, 3> d{};
      c.points(w, &d);
      for (double x : d)
        *out++ = static_cast<float>(x);
      return;
    }
    case TermKind::kBodiesPos:
      for (int body : c.elements) {
        if (body >= 0) w.read(Quantity::kBodyPos, body, v);
        for (int k = 0; k < 3; ++k)
          *out++ = body >= 0 ? static_cast<float>(v[k]) : 0.0f;
        *out++ = body >= 0 ? 1.0f : 0.0f;
      }
      return;
    case TermKind::kLastAction:  // the env slot's to write
      out += c.elements.size();
      return;
    case TermKind::kBodyHeading: {
      // The body's x axis (from the w-first quaternion) projected on the ground plane and
      // normalized: (cos yaw, sin yaw). Pointing straight up or down it has no heading: (0, 0).
      w.read(Quantity::kBodyQuat, c.elements[0], v);
      const double qw = v[0], qx = v[1], qy = v[2], qz = v[3];
      const double hx = 1.0 - 2.0 * (qy * qy + qz * qz), hy = 2.0 * (qx * qy + qw * qz);
      const double n = std::hypot(hx, hy);
      *out++ = n > 1e-9 ? static_cast<float>(hx / n) : 0.0f;
      *out++ = n > 1e-9 ? static_cast<float>(hy / n) : 0.0f;
      return;
    }
    default:
      break;
  }
  for (std::size_t e = 0; e < c.elements.size(); ++e) {
    w.read(c.quantity, c.elements[e], v);
    for (int k = 0; k < c.dims[e]; ++k)
      *out++ = static_cast<float>(v[k]);
  }
}

bool fires(const Compiled& c, const World& w) {
  if (c.kind == TermKind::kContact) return evaluate(c, w, {}) < 0;  // any contact
  return evaluate(c, w, {}) > 0;
}

// The observation elements a term writes, named, appended to `space`.
void describe(const Compiled& c, const TermSpec& t, const Model& model, engine::Space& space) {
  static const std::vector<std::string> kXyz = {"x", "y", "z"};
  switch (c.kind) {
    case TermKind::kJointPos:
    case TermKind::kJointVel: {
      // One name per entry: the joint's name, with ".k" for free and ball joints.
      const auto joint_names = model.names(Element::kJoint);
      std::vector<std::string> names;
      for (std::size_t e = 0; e < c.elements.size(); ++e) {
        const int n = c.dims[e];
        if (n == 1) {
          names.push_back(joint_names[c.elements[e]]);
          continue;
        }
        for (int k = 0; k < n; ++k)
          names.push_back(joint_names[c.elements[e]] + "." + std::to_string(k));
      }
      space.add_group(t.term, static_cast<int>(names.size()), names);
      return;
    }
    case TermKind::kBodyQuat:
      space.add_group(t.term + "/" + t.body, 4, {"w", "x", "y", "z"});
      return;
    case TermKind::kBodyHeading:
      space.add_group(t.term + "/" + t.body, 2, {"cos", "sin"});
      return;
    case TermKind::kSensor: {
      std::vector<std::string> names;
      for (int k = 0; k < c.dims[0]; ++k)
        names.push_back(std::to_string(k));
      space.add_group(t.term + "/" + t.sensor, c.dims[0], names);
      return;
    }
    case TermKind::kOffset:
      space.add_group(t.term + "/" + t.from + "->" + t.to, 3, kXyz);
      return;
    case TermKind::kBodiesPos: {
      std::vector<std::string> names;
      for (int k = 0; k < t.count; ++k)
        for (const char* n : {"x", "y", "z", "present"})
          names.push_back(t.prefix + std::to_string(k) + "." + n);
      space.add_group(t.term + "/" + t.prefix, 4 * t.count, names);
      return;
    }
    case TermKind::kSitePos:
      space.add_group(t.term + "/" + t.site, 3, kXyz);
      return;
    case TermKind::kLastAction: {
      // The actuators' names, and their control bounds (what the slot clamps to).
      const auto& action = model.info().action;
      std::vector<std::string> names;
      for (const auto& name : action.names())
        names.push_back(name.substr(name.find('/') + 1));
      const int at = space.dim();
      space.add_group(t.term, action.dim(), names);
      for (int k = 0; k < action.dim(); ++k) {
        space.low(at + k) = action.low()[k];
        space.high(at + k) = action.high()[k];
      }
      return;
    }
    default:
      space.add_group(t.term + "/" + t.body, 3, kXyz);
      return;
  }
}

}  // namespace

RewardBreakdown compile_reward_breakdown(const SceneSpec& spec, const Model& model) {
  RewardBreakdown breakdown;
  std::vector<Compiled> rewards;
  for (const auto& t : spec.rewards) {
    rewards.push_back(compile_term(t, kRewardTerms, model));
    std::string label = t.term;
    for (const auto* part : {&t.body, &t.site, &t.sensor, &t.from})
      if (!part->empty()) label += " " + *part;
    if (!t.to.empty()) label += "-" + t.to;
    if (!t.joints.empty()) label += " " + t.joints.front() + (t.joints.size() > 1 ? ",..." : "");
    breakdown.labels.push_back(std::move(label));
  }
  breakdown.evaluate = [rewards](const World& w, std::span<const float> action,
                                 std::span<float> out) {
    for (std::size_t i = 0; i < rewards.size(); ++i)
      out[i] = static_cast<float>(rewards[i].weight * evaluate(rewards[i], w, action));
  };
  return breakdown;
}

engine::Task compile_task(const SceneSpec& spec, const Model& model, std::vector<float>* noise) {
  engine::Task task;
  std::vector<Compiled> observations, rewards, terminations;
  std::vector<float> element_noise;
  for (const auto& t : spec.observations) {
    observations.push_back(compile_term(t, kObservationTerms, model));
    if (observations.back().kind == TermKind::kLastAction) {
      if (task.last_action_at >= 0)
        throw Error(t.where,
                    "a second 'last_action' term: the observation holds the previous "
                    "action once");
      task.last_action_at = task.observation.dim();
    }
    describe(observations.back(), t, model, task.observation);
    element_noise.resize(static_cast<std::size_t>(task.observation.dim()),
                         static_cast<float>(t.noise));
    if (observations.back().kind == TermKind::kBodiesPos)  // presence flags stay exact
      for (int k = 0; k < t.count; ++k)
        element_noise[element_noise.size() - 1 - 4 * k] = 0.0f;
  }
  for (const auto& t : spec.rewards)
    rewards.push_back(compile_term(t, kRewardTerms, model));
  for (const auto& t : spec.terminations)
    terminations.push_back(compile_term(t, kTerminationTerms, model));
  if (noise) {
    noise->clear();
    if (std::any_of(element_noise.begin(), element_noise.end(), [](float x) { return x > 0; }))
      *noise = element_noise;
  }
  if (!observations.empty())
    task.observe = [observations](const World& w, std::span<float> obs) {
      float* out = obs.data();
      for (const auto& c : observations)
        observe_term(c, w, out);
    };
  if (!rewards.empty())
    task.reward = [rewards](const World& w, std::span<const float> action) {
      double r = 0;
      for (const auto& c : rewards)
        r += c.weight * evaluate(c, w, action);
      return static_cast<float>(r);
    };
  if (!terminations.empty())
    task.terminated = [terminations](const World& w) {
      for (const auto& c : terminations)
        if (fires(c, w)) return true;
      return false;
    };
  return task;
}

TermDistance::TermDistance(const Model& model, const TermSpec& term)
    : gap_(term.gap), horizontal_(term.horizontal) {
  std::tie(from_q_, from_) = resolve_point(model, term.from, term);
  std::tie(to_q_, to_) = resolve_point(model, term.to, term);
  if (term.behind.empty()) return;
  TermSpec at_behind = term;
  at_behind.where = term.behind_where;
  std::tie(behind_q_, behind_) = resolve_point(model, term.behind, at_behind);
}

double TermDistance::operator()(const World& world, std::array<double, 3>* offset) const {
  std::array<double, 3> a{}, b{};
  world.read(from_q_, from_, a);
  world.read(to_q_, to_, b);
  if (behind_ >= 0) {
    std::array<double, 3> c{};
    world.read(behind_q_, behind_, c);
    const double dx = b[0] - c[0], dy = b[1] - c[1], r = std::hypot(dx, dy);
    if (r > 1e-9) {
      b[0] += gap_ * dx / r;
      b[1] += gap_ * dy / r;
    }
  }
  double sum = 0;
  for (int k = 0; k < 3; ++k) {
    const double d = k == 2 && horizontal_ ? 0.0 : b[k] - a[k];
    if (offset) (*offset)[k] = d;
    sum += d * d;
  }
  return std::sqrt(sum);
}

}  // namespace simlab::scenes
