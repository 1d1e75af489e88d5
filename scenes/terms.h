// The compilers from a SceneSpec to what the VectorEnv runs, per structural variant:
//
//   observation, reward and termination TermSpecs --compile_task(model)--> engine::Task
//   RandomizeSpecs --compile_randomizer(model)--> engine::Randomizer
//
// Names are resolved against the variant's model once; evaluation inside the batched step reads
// the world through World::read and allocates nothing. The term tables here are also what the
// parser checks `term = "..."` against.
#pragma once

#include <array>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/physics/backend.h"
#include "engine/vector_env.h"
#include "scenes/scene.h"

namespace simlab::scenes {

enum class TermKind {
  // observations
  kJointPos,
  kJointVel,
  kBodyPos,
  kBodyQuat,
  kBodyZAxis,
  kBodyHeading,
  kBodyLinVel,
  kBodyAngVel,
  kSitePos,
  kOffset,
  kSensor,
  kBodiesPos,
  kLastAction,
  // rewards
  kUpright,
  kJointPosition,
  kJointVelocity,
  kActionL2,
  kAlive,
  kBodyUpright,
  kBodyHeight,
  kBodyVelocity,
  kDistance,
  kNear,
  kClosingSpeed,
  kContact,
  // terminations (and kNear, kContact)
  kOutOfRange,
  kBodyBelow,
  kBodyTilted,
};
using TermTable = std::vector<std::pair<std::string, TermKind>>;
extern const TermTable kObservationTerms, kRewardTerms, kTerminationTerms;

// The keys a term of this kind needs ("joint", "body", "from"...), for parse-time checks.
std::vector<std::string> required_keys(TermKind kind);

// The observation layout, reward and termination of `model`, with the per-element sensor noise
// of the observation terms in `obs_noise` (empty when no term has noise).
engine::Task compile_task(const SceneSpec& spec, const engine::physics::Model& model,
                          std::vector<float>* obs_noise = nullptr);

// The distance between a `distance`, `near` or `offset` term's two points (each a site, else a
// body), resolved against `model` once: an Error naming the term where a point does not exist.
// With `behind`, the `to` point is moved `gap` metres horizontally away from that third point: the
// spot to push `to` from so that it moves towards `behind`. With `horizontal`, the z difference
// is dropped: the distance in the table's plane (an object's centre stands above a goal marked on
// the table; measured in 3D, "within 4 cm" would depend on the object's height).
class TermDistance {
 public:
  TermDistance() = default;
  TermDistance(const engine::physics::Model& model, const TermSpec& term);
  // |to - from|; `offset`, where given, receives to - from.
  double operator()(const engine::physics::World& world,
                    std::array<double, 3>* offset = nullptr) const;

 private:
  engine::physics::Quantity from_q_{}, to_q_{}, behind_q_{};
  int from_ = -1, to_ = -1, behind_ = -1;
  double gap_ = 0;
  bool horizontal_ = false;
};

// Each reward term of `model` on its own: `evaluate` writes the weighted value of every term, in
// spec order (their sum is compile_task's reward), for displays such as the viewer's panel.
struct RewardBreakdown {
  std::vector<std::string> labels;  // the term and what it reads: "upright pole", "action_l2"
  std::function<void(const engine::physics::World& world, std::span<const float> action,
                     std::span<float> out)>
      evaluate;
};
RewardBreakdown compile_reward_breakdown(const SceneSpec& spec,
                                         const engine::physics::Model& model);

// Domain randomization of `model`; interval terms fire every interval_seconds at control_hz.
engine::Randomizer compile_randomizer(const SceneSpec& spec, const engine::physics::Model& model);

// "; did you mean 'x'?" when a candidate is close, else " (label: a, b, c)" (nothing without a
// label): the tail of every "unknown X" message.
std::string suggest(const std::string& word, const std::vector<std::string>& candidates,
                    const std::string& label = "");

}  // namespace simlab::scenes
