// Where a command's actions come from when it drives envs without training: `random` (uniform
// over the action space), `zero`, or an exported policy (policy.pt from `simlab export`, its card
// checked against the scene). One source for `gen`, `view` and the Python package.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/spec.h"

namespace simlab::learners {
struct ExportedPolicy;
}

namespace simlab::app {

class PolicySource {
 public:
  enum class Kind { kRandom, kZero, kExported };

  // "random", "zero" or the path of a policy.pt. A missing file, or a policy file in a build
  // without LibTorch, is an Error naming the field `policy`. Nothing is loaded yet.
  static PolicySource parse(const std::string& word);

  // Load an exported policy and check its card against the scene's spaces (an Error naming the
  // card's field where they differ); the others only note the action space.
  void bind(const engine::Space& observation, const engine::Space& action);

  Kind kind() const { return kind_; }
  const std::string& word() const { return word_; }
  bool exported() const { return kind_ == Kind::kExported; }
  // The previous action an episode's first decision sees: the card's safe action (exported),
  // else zeros.
  const std::vector<float>& safe_action() const { return safe_; }

  // Actions for `rows` envs at once: obs [rows, obs_dim] and prev [rows, act_dim] (an exported
  // policy reads both) -> action [rows, act_dim]. `random` draws each element from `rng`, uniform
  // over `space` where it is bounded, else [-1, 1]; `zero` writes zeros. An exported policy is
  // deterministic, called with a lock held (safe from several threads at once); a recurrent one
  // is refused (it needs per-episode states, which only `simlab eval` keeps).
  void act(std::span<const float> obs, std::span<const float> prev, std::span<float> action,
           engine::Rng& rng, const engine::Space& space) const;
  // One uniform draw per element, as `random` does.
  static void uniform(const engine::Space& space, engine::Rng& rng, std::span<float> action);

 private:
  Kind kind_ = Kind::kRandom;
  std::string word_ = "random";
  std::vector<float> safe_;
  std::shared_ptr<learners::ExportedPolicy> policy_;
  std::shared_ptr<std::mutex> lock_;
};

}  // namespace simlab::app
