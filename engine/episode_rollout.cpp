#include "engine/episode_rollout.h"

#include "engine/core/error.h"

namespace simlab::engine {
namespace {

const EnvVariant& variant_of(const std::vector<EnvVariant>& variants, std::int64_t index) {
  SIMLAB_CHECK(!variants.empty()) << "a scene without variants";
  SIMLAB_CHECK(index >= 0 && index <= 0x7fffffff) << "episode index " << index;
  return variants[static_cast<std::size_t>(index) % variants.size()];
}

}  // namespace

EpisodeRollout::EpisodeRollout(const std::vector<EnvVariant>& variants,
                               const VectorEnvConfig& config, std::int64_t index)
    : index_(index),
      variant_(static_cast<int>(static_cast<std::size_t>(index) % variants.size())),
      slot_(variant_of(variants, index), config, static_cast<int>(index)) {
  const EnvVariant& v = slot_.variant();
  obs_.resize(static_cast<std::size_t>(v.task.observe ? v.task.observation.dim()
                                                      : v.model->info().observation.dim()));
  slot_.begin(0, obs_);
  const auto& model = *v.model;
  num_joints_ = static_cast<int>(model.names(physics::Element::kJoint).size());
  for (int j = 0; j < num_joints_; ++j)
    state_dim_ += model.quantity_dim(physics::Quantity::kJointPos, j) +
                  model.quantity_dim(physics::Quantity::kJointVel, j);
}

EpisodeRollout::Step EpisodeRollout::step(std::span<const float> action,
                                          const EnvSlot::ControlStepHook* each) {
  SIMLAB_CHECK(!done_) << "episode " << index_ << " has ended";
  SIMLAB_CHECK(static_cast<int>(action.size()) == slot_.variant().model->info().action.dim())
      << "action has " << action.size() << " floats, expected "
      << slot_.variant().model->info().action.dim();
  const Step s = slot_.step(action, obs_, each);
  done_ = s.done();
  return s;
}

void EpisodeRollout::read_state(std::span<double> out) const {
  SIMLAB_CHECK(static_cast<int>(out.size()) == state_dim_) << "state has " << state_dim_;
  const auto& model = *slot_.variant().model;
  std::size_t at = 0;
  for (auto q : {physics::Quantity::kJointPos, physics::Quantity::kJointVel})
    for (int j = 0; j < num_joints_; ++j) {
      const auto n = static_cast<std::size_t>(model.quantity_dim(q, j));
      slot_.world().read(q, j, out.subspan(at, n));
      at += n;
    }
}

}  // namespace simlab::engine
