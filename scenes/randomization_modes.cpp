// Which randomization a scene runs with (train, heldout, none), and the spec as it runs under each.
#include <algorithm>
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

}  // namespace simlab::scenes
