// Held-out randomization: `heldout = [low, high]` beside a [[randomize]] term's range, and
// `action_delay_heldout` in [corruption]; parsing, validation errors with their line, held-out
// draws falling outside the training range and inside the held-out one, determinism, and the
// train / none modes.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scenes/scene.h"

namespace simlab::scenes {
namespace {

using engine::physics::Param;

constexpr const char* kHeader = "model = \"models/cartpole.xml\"\nepisode_seconds = 0.05\n";

// Pole mass [0.8, 1.2] (held out: [0.4, 2.5]) per reset and motor gain log-uniform [0.9, 1.1]
// (held out: [0.6, 1.6]) per env; lines 3-15.
constexpr const char* kTerms =
    "[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pole\"]\nrange = [0.8, 1.2]\n"
    "heldout = [0.4, 2.5]\n"
    "[[randomize]]\nparam = \"actuator_gain\"\nmode = \"startup\"\n"
    "distribution = \"log_uniform\"\nrange = [0.9, 1.1]\nheldout = [0.6, 1.6]\n"
    "[corruption]\naction_delay = [0, 1]\naction_delay_heldout = [0, 3]\n";

SceneSpec spec_of(const std::string& body) {
  return parse_scene(kHeader + body, "spec.toml");
}

std::string error_of(const std::string& body) {
  try {
    compile_scene(spec_of(body));
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct Draws {
  std::vector<double> mass, gain;  // factors on the model's values, per env
  int delay_min = 0, delay_max = 0;
};

Draws draws(const SceneSpec& spec, Randomization r, std::uint64_t seed, int threads = 1) {
  const auto scene = compile_scene(with_randomization(spec, r));
  auto env = make_env(scene, 64, threads, seed);
  Draws d;
  const double mass = scene.model->param_default(Param::kBodyMass, 2);
  const double gain = scene.model->param_default(Param::kActuatorGain, 0);
  for (int e = 0; e < env->num_envs(); ++e) {
    d.mass.push_back(env->world(e).param(Param::kBodyMass, 2) / mass);
    d.gain.push_back(env->world(e).param(Param::kActuatorGain, 0) / gain);
  }
  d.delay_min = scene.config.corruption.action_delay_min;
  d.delay_max = scene.config.corruption.action_delay_max;
  return d;
}

TEST(Heldout, ParsesBesideTheTrainingRange) {
  const auto spec = spec_of(kTerms);
  ASSERT_EQ(spec.randomize.size(), 2u);
  EXPECT_TRUE(spec.randomize[0].has_heldout);
  EXPECT_EQ(spec.randomize[0].a, 0.8);
  EXPECT_EQ(spec.randomize[0].heldout_a, 0.4);
  EXPECT_EQ(spec.randomize[0].heldout_b, 2.5);
  EXPECT_EQ(spec.randomize[0].heldout_where.line, 7);
  EXPECT_EQ(spec.randomize[1].heldout_b, 1.6);
  EXPECT_EQ(spec.heldout_delay_min, 0);
  EXPECT_EQ(spec.heldout_delay_max, 3);
  EXPECT_TRUE(has_heldout(spec));
  EXPECT_FALSE(has_heldout(spec_of("[[randomize]]\nparam = \"body_mass\"\nrange = [0.8, 1.2]\n")));
  // The built-in cartpole declares held-out ranges for its physical terms and its delay.
  const auto cartpole = load_scene(resolve_scene("cartpole-balance"));
  EXPECT_TRUE(has_heldout(cartpole));
  for (const auto& t : cartpole.randomize)
    EXPECT_TRUE(t.has_heldout) << t.param_name;
}

TEST(Heldout, ValidationNamesTheLineAndTheField) {
  const std::string mass = "[[randomize]]\nparam = \"body_mass\"\nrange = [0.8, 1.2]\n";
  EXPECT_EQ(error_of(mass + "heldout = [0.9, 2.0]\n"),
            "spec.toml:6:11: randomize[0].heldout: held-out range [0.9, 2] must contain the "
            "training range [0.8, 1.2]");
  EXPECT_EQ(error_of(mass + "heldout = [0.5, 1.1]\n"),
            "spec.toml:6:11: randomize[0].heldout: held-out range [0.5, 1.1] must contain the "
            "training range [0.8, 1.2]");
  EXPECT_EQ(error_of(mass + "heldout = [2.0, 0.5]\n"),
            "spec.toml:6:11: randomize[0].heldout: low (2) > high (0.5)");
  EXPECT_EQ(error_of(mass + "heldout = 2\n"),
            "spec.toml:6:11: randomize[0].heldout: expected heldout = [low, high] (two numbers)");
  EXPECT_EQ(error_of(mass + "heldout = [-0.5, 2]\n"),
            "spec.toml:6:11: randomize[0].heldout: a negative body_mass is impossible (held-out "
            "range reaches -0.5)");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"actuator_gain\"\ndistribution = \"log_uniform\"\n"
                     "range = [0.9, 1.1]\nheldout = [0, 2]\n"),
            "spec.toml:7:11: randomize[0].heldout: log_uniform needs low > 0, got 0");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"gravity_z\"\ndistribution = \"gaussian\"\n"
                     "range = [1, 0.1]\nheldout = [1.1, 0.2]\n"),
            "spec.toml:7:11: randomize[0].heldout: held-out [1.1, 0.2] must keep the mean of range "
            "[1, 0.1] and a stddev >= 0.1");
  EXPECT_EQ(error_of("[corruption]\naction_delay = [1, 2]\naction_delay_heldout = [0, 1]\n"),
            "spec.toml:5:24: corruption.action_delay_heldout: held-out delays [0, 1] must contain "
            "action_delay [1, 2]");
  EXPECT_EQ(error_of(mass + "held_out = [0.5, 2]\n"),
            "spec.toml:6:1: randomize[0].held_out: unknown key; did you mean 'heldout'?");
}

TEST(Heldout, DrawsFallInTheHeldOutRangeOutsideTheTrainingRange) {
  const auto spec = spec_of(kTerms);
  const auto held = draws(spec, Randomization::kHeldout, 5);
  int below = 0, above = 0;
  for (double m : held.mass) {
    EXPECT_GE(m, 0.4 - 1e-9);
    EXPECT_LE(m, 2.5 + 1e-9);
    EXPECT_TRUE(m < 0.8 || m > 1.2) << m;
    below += m<0.8, above += m> 1.2;
  }
  // Both bands are drawn from, in proportion to their widths (0.4 and 1.3).
  EXPECT_GT(below, 4);
  EXPECT_GT(above, 4 * below / 3);
  for (double g : held.gain) {
    EXPECT_GE(g, 0.6 - 1e-9);
    EXPECT_LE(g, 1.6 + 1e-9);
    EXPECT_TRUE(g < 0.9 || g > 1.1) << g;
  }
  EXPECT_EQ(held.delay_min, 2);  // the delays above the training maximum
  EXPECT_EQ(held.delay_max, 3);

  const auto train = draws(spec, Randomization::kTrain, 5);
  for (double m : train.mass) {
    EXPECT_GE(m, 0.8 - 1e-9);
    EXPECT_LE(m, 1.2 + 1e-9);
  }
  EXPECT_EQ(train.delay_min, 0);
  EXPECT_EQ(train.delay_max, 1);
  // Declaring held-out ranges leaves training draws as they were.
  const auto plain = spec_of(
      "[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pole\"]\nrange = [0.8, 1.2]\n"
      "[[randomize]]\nparam = \"actuator_gain\"\nmode = \"startup\"\n"
      "distribution = \"log_uniform\"\nrange = [0.9, 1.1]\n"
      "[corruption]\naction_delay = [0, 1]\n");
  EXPECT_EQ(train.mass, draws(plain, Randomization::kTrain, 5).mass);
  EXPECT_EQ(train.gain, draws(plain, Randomization::kTrain, 5).gain);
}

TEST(Heldout, DrawsReproduceFromTheSeedWhateverTheThreads) {
  const auto spec = spec_of(kTerms);
  const auto one = draws(spec, Randomization::kHeldout, 9, 1);
  EXPECT_EQ(one.mass, draws(spec, Randomization::kHeldout, 9, 2).mass);
  EXPECT_EQ(one.gain, draws(spec, Randomization::kHeldout, 9, 2).gain);
  EXPECT_NE(one.mass, draws(spec, Randomization::kHeldout, 10, 1).mass);
  EXPECT_GT(std::set<double>(one.mass.begin(), one.mass.end()).size(), 60u);
}

TEST(Heldout, NoneDropsParametersButKeepsTheStartAndUnknownModesAreNamed) {
  auto spec = spec_of(std::string(kTerms) +
                      "[[randomize]]\nparam = \"joint_position\"\ntargets = [\"hinge\"]\n"
                      "range = [-0.05, 0.05]\n");
  const auto none = with_randomization(spec, Randomization::kNone);
  ASSERT_EQ(none.randomize.size(), 1u);
  EXPECT_EQ(none.randomize[0].param_name, "joint_position");
  const auto d = draws(spec, Randomization::kNone, 5);
  for (double m : d.mass)
    EXPECT_EQ(m, 1.0);

  try {
    with_randomization(spec_of("[[randomize]]\nparam = \"body_mass\"\nrange = [0.8, 1.2]\n"),
                       Randomization::kHeldout);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where().file, "spec.toml");
    EXPECT_TRUE(std::string(e.what()).find("declares no held-out ranges") != std::string::npos)
        << e.what();
  }
  try {
    parse_randomization("heldot", "--randomization");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "--randomization: 'heldot': expected train, heldout or none; did you mean "
              "'heldout'?");
  }
  EXPECT_EQ(parse_randomization("heldout", "x"), Randomization::kHeldout);
  EXPECT_STREQ(randomization_name(Randomization::kNone), "none");
}

// The transfer benchmark's sweeps: one axis per held-out term (pole mass on a linear grid, the
// log-uniform gain on a geometric one) and one for the delay (every whole step), each point a spec
// whose only randomization is that axis held at its value.
TEST(Heldout, SweepAxesSpanTheHeldOutRanges) {
  const auto spec = spec_of(kTerms);
  const auto axes = sweep_axes(spec, 3);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[0].label, "body_mass");
  EXPECT_EQ(axes[0].kind, SweepAxis::Kind::kValue);
  ASSERT_EQ(axes[0].values.size(), 3u);
  EXPECT_EQ(axes[0].values[0], 0.4);
  EXPECT_NEAR(axes[0].values[1], 1.45, 1e-12);
  EXPECT_EQ(axes[0].values[2], 2.5);
  EXPECT_EQ(axes[0].train_lo, 0.8);
  EXPECT_EQ(axes[1].label, "actuator_gain");
  ASSERT_EQ(axes[1].values.size(), 3u);
  EXPECT_NEAR(axes[1].values[1], std::sqrt(0.6 * 1.6), 1e-12);  // geometric middle
  EXPECT_EQ(axes[2].label, "action_delay");
  EXPECT_EQ(axes[2].kind, SweepAxis::Kind::kDelay);
  EXPECT_EQ(axes[2].values, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_THROW(sweep_axes(spec, 1), Error);
  EXPECT_TRUE(sweep_axes(spec_of(""), 5).empty());

  // A point holds its own parameter and nothing else; the delay axis fixes the delay.
  const auto at_mass = at_sweep_point(spec, axes[0], 2.5);
  const auto d = draws(at_mass, Randomization::kTrain, 7);
  for (std::size_t e = 0; e < d.mass.size(); ++e) {
    EXPECT_NEAR(d.mass[e], 2.5, 1e-9) << e;
    EXPECT_NEAR(d.gain[e], 1.0, 1e-12) << e;  // the gain is not randomized at this point
  }
  const auto at_delay = draws(at_sweep_point(spec, axes[2], 3), Randomization::kTrain, 7);
  EXPECT_EQ(at_delay.delay_min, 3);
  EXPECT_EQ(at_delay.delay_max, 3);
  for (double m : at_delay.mass)
    EXPECT_EQ(m, 1.0);
}

// A symmetric additive term (a push) sweeps its half-width from 0.
TEST(Heldout, SymmetricAdditiveTermsSweepTheirHalfWidth) {
  const auto spec = spec_of(
      "[[randomize]]\nparam = \"joint_velocity\"\ntargets = [\"hinge\"]\nrange = [-0.1, 0.1]\n"
      "heldout = [-0.4, 0.4]\n");
  const auto axes = sweep_axes(spec, 5);
  ASSERT_EQ(axes.size(), 1u);
  EXPECT_EQ(axes[0].kind, SweepAxis::Kind::kHalfWidth);
  EXPECT_EQ(axes[0].values, (std::vector<double>{0, 0.1, 0.2, 0.30000000000000004, 0.4}));
  const auto point = at_sweep_point(spec, axes[0], 0.3);
  ASSERT_EQ(point.randomize.size(), 1u);  // replaced, not added twice
  EXPECT_EQ(point.randomize[0].a, -0.3);
  EXPECT_EQ(point.randomize[0].b, 0.3);
}

// [train.ppo]: the scene's PPO recipe, every key optional, bad values named with their line.
TEST(Heldout, TheTrainingRecipeParsesAndNamesBadKeys) {
  const auto spec =
      spec_of("[train.ppo]\nsteps = 3e6\nenvs = 256\nlr = 0.001\ninit_log_std = -1\n");
  EXPECT_EQ(spec.ppo_recipe.steps, 3000000);
  EXPECT_EQ(spec.ppo_recipe.envs, 256);
  EXPECT_EQ(spec.ppo_recipe.lr, 0.001);
  EXPECT_EQ(spec.ppo_recipe.init_log_std, -1.0);
  EXPECT_FALSE(spec.ppo_recipe.horizon.has_value());
  EXPECT_TRUE(spec_of("").ppo_recipe.empty());
  for (const auto& [body, where] : std::vector<std::pair<std::string, std::string>>{
           {"[train.ppo]\nenvs = 0\n", "spec.toml:4:"},
           {"[train.ppo]\nsteps = 1.5\n", "spec.toml:4:"},
           {"[train.ppo]\nlr = 0\n", "spec.toml:4:"},
           {"[train.ppo]\nlearning_rate = 0.1\n", "train.ppo.learning_rate"},
           {"[train.sac]\nsteps = 1\n", "train.sac"}})
    EXPECT_NE(error_of(body).find(where), std::string::npos) << body << ": " << error_of(body);
  EXPECT_NE(error_of("[train.ppo]\nenvs = 0\n").find("train.ppo.envs: must be in [1, "),
            std::string::npos);
}

}  // namespace
}  // namespace simlab::scenes
