#include "tools/app/policy.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/core/error.h"
#ifdef SIMLAB_HAS_LEARNERS
#include "learners/evaluate.h"
#include "learners/tensor_view.h"
#endif

namespace simlab::app {

PolicySource PolicySource::parse(const std::string& word) {
  PolicySource p;
  p.word_ = word;
  if (word == "random") return p;
  if (word == "zero") {
    p.kind_ = Kind::kZero;
    return p;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(word, ec))
    throw Error(SourceLocation{.field = "policy"},
                "'" + word +
                    "': no such policy file; expected random, zero, or a policy.pt written by "
                    "`simlab export`");
#ifndef SIMLAB_HAS_LEARNERS
  throw Error(SourceLocation{.file = word, .field = "policy"},
              "policy files need LibTorch, and this simlab was built without it; use random or "
              "zero");
#endif
  p.kind_ = Kind::kExported;
  return p;
}

void PolicySource::bind(const engine::Space& observation, const engine::Space& action) {
  safe_.assign(static_cast<std::size_t>(action.dim()), 0.0f);
  if (kind_ != Kind::kExported) return;
#ifdef SIMLAB_HAS_LEARNERS
  policy_ = std::make_shared<learners::ExportedPolicy>(learners::load_exported_policy(word_));
  learners::check_layout(policy_->card,
                         policy_->card_file.empty() ? word_ : policy_->card_file.string(),
                         observation, action);
  safe_ = policy_->action_limits().safe;
  lock_ = std::make_shared<std::mutex>();
#else
  (void)observation;
#endif
}

void PolicySource::uniform(const engine::Space& space, engine::Rng& rng, std::span<float> action) {
  for (std::size_t i = 0; i < action.size(); ++i) {
    const std::size_t j = i % static_cast<std::size_t>(space.dim());
    float lo = space.low()[j], hi = space.high()[j];
    if (!std::isfinite(lo) || !std::isfinite(hi)) lo = -1, hi = 1;
    action[i] = static_cast<float>(rng.uniform(lo, hi));
  }
}

void PolicySource::act(std::span<const float> obs, std::span<const float> prev,
                       std::span<float> action, engine::Rng& rng,
                       const engine::Space& space) const {
  switch (kind_) {
    case Kind::kRandom:
      uniform(space, rng, action);
      return;
    case Kind::kZero:
      std::fill(action.begin(), action.end(), 0.0f);
      return;
    case Kind::kExported:
      break;
  }
#ifdef SIMLAB_HAS_LEARNERS
  SIMLAB_CHECK(policy_) << "PolicySource::act before bind()";
  const auto act_dim = static_cast<std::int64_t>(space.dim());
  const auto rows = static_cast<std::int64_t>(action.size()) / act_dim;
  const auto o = learners::as_tensor(obs, rows);
  const auto p = learners::as_tensor(prev, rows);
  std::lock_guard guard(*lock_);
  const auto a = policy_->forward(o, p).first.to(torch::kFloat32).contiguous();
  std::copy(a.data_ptr<float>(), a.data_ptr<float>() + action.size(), action.begin());
#else
  (void)obs, (void)prev;
#endif
}

}  // namespace simlab::app
