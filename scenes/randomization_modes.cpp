// Which randomization a scene runs with (train, heldout, none), and the spec as it runs under each.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/core/choice.h"
#include "engine/core/error.h"
#include "scenes/scene.h"
#include "scenes/terms.h"

namespace simlab::scenes {

namespace {

const Choice<Randomization> kRandomizations[] = {{"train", Randomization::kTrain},
                                                 {"heldout", Randomization::kHeldout},
                                                 {"none", Randomization::kNone}};

}  // namespace

Randomization parse_randomization(const std::string& word, const std::string& field) {
  if (const auto r = choice_value(kRandomizations, word)) return *r;
  throw Error(SourceLocation{.field = field}, "'" + word + "': expected " +
                                                  choice_words(kRandomizations) +
                                                  suggest(word, {"train", "heldout", "none"}));
}

const char* randomization_name(Randomization r) {
  return choice_name(kRandomizations, r);
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
        throw Error(SourceLocation{.file = spec.file.string(), .field = "randomization"},
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

std::vector<SweepAxis> sweep_axes(const SceneSpec& spec, int points) {
  if (points < 2) throw Error(SourceLocation{.field = "sweep points"}, "must be >= 2");
  std::vector<SweepAxis> axes;
  for (std::size_t i = 0; i < spec.randomize.size(); ++i) {
    const RandomizeSpec& t = spec.randomize[i];
    if (!t.has_heldout || t.distribution == RandomizeSpec::Distribution::kGaussian) continue;
    SweepAxis axis{.label = t.param_name, .term = static_cast<int>(i)};
    const bool symmetric_add =
        t.operation == RandomizeSpec::Operation::kAdd && t.a == -t.b && t.heldout_a == -t.heldout_b;
    const bool log = t.distribution == RandomizeSpec::Distribution::kLogUniform;
    if (symmetric_add) {
      axis.kind = SweepAxis::Kind::kHalfWidth;
      axis.train_lo = 0, axis.train_hi = t.b;
      for (int k = 0; k < points; ++k)
        axis.values.push_back(t.heldout_b * k / (points - 1));
    } else {
      axis.train_lo = t.a, axis.train_hi = t.b;
      for (int k = 0; k < points; ++k) {
        const double f = static_cast<double>(k) / (points - 1);
        axis.values.push_back(log ? t.heldout_a * std::pow(t.heldout_b / t.heldout_a, f)
                                  : t.heldout_a + f * (t.heldout_b - t.heldout_a));
      }
    }
    axes.push_back(std::move(axis));
  }
  // Two terms of one parameter (body_mass of the torso and of the legs) get their targets named.
  for (auto& axis : axes)
    if (std::count_if(axes.begin(), axes.end(),
                      [&](const SweepAxis& o) { return o.label == axis.label; }) > 1) {
      const auto& targets = spec.randomize[static_cast<std::size_t>(axis.term)].targets;
      if (!targets.empty()) axis.label += ":" + targets.front();
    }
  if (spec.heldout_delay_min >= 0) {
    SweepAxis axis{.label = "action_delay", .kind = SweepAxis::Kind::kDelay};
    axis.train_lo = spec.action_delay_min, axis.train_hi = spec.action_delay_max;
    for (int d = spec.heldout_delay_min; d <= spec.heldout_delay_max; ++d)
      axis.values.push_back(d);
    axes.push_back(std::move(axis));
  }
  return axes;
}

SceneSpec at_sweep_point(const SceneSpec& spec, const SweepAxis& axis, double value) {
  SceneSpec out = with_randomization(spec, Randomization::kNone);
  if (axis.kind == SweepAxis::Kind::kDelay) {
    out.action_delay_min = out.action_delay_max = static_cast<int>(std::lround(value));
    return out;
  }
  RandomizeSpec t = spec.randomize.at(static_cast<std::size_t>(axis.term));
  t.distribution = RandomizeSpec::Distribution::kUniform;
  t.draw_heldout = false;
  if (axis.kind == SweepAxis::Kind::kHalfWidth)
    t.a = -value, t.b = value;
  else
    t.a = t.b = value;
  // The term replaces itself where kNone kept it (initial-state terms), else it is added back.
  std::erase_if(out.randomize, [&](const RandomizeSpec& o) {
    return o.param_name == t.param_name && o.targets == t.targets && o.state == t.state;
  });
  out.randomize.push_back(std::move(t));
  return out;
}

}  // namespace simlab::scenes
