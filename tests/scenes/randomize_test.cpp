#include <cmath>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "scenes/scene.h"

namespace simlab::scenes {
namespace {

using engine::physics::Param;

Scene scene_with(const std::string& randomize, int envs = 16) {
  auto scene = compile_scene(parse_scene(
      "model = \"models/cartpole.xml\"\nepisode_seconds = 0.05\n" + randomize, "spec.toml"));
  scene.config.num_envs = envs;
  scene.config.seed = 21;
  return scene;
}

std::string error_of(const std::string& randomize) {
  try {
    scene_with(randomize);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Pole mass (body 2 of the cartpole: world, cart, pole) of every env.
std::vector<double> pole_masses(const engine::VectorEnv& env) {
  std::vector<double> out;
  for (int e = 0; e < env.num_envs(); ++e)
    out.push_back(env.world(e).param(Param::kBodyMass, 2));
  return out;
}

constexpr const char* kPoleMass =
    "[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pole\"]\nmode = \"reset\"\n"
    "range = [0.5, 2.0]\n";

TEST(Randomize, DrawsStayInRangeDifferPerEnvAndLeaveOtherEnvsShared) {
  auto scene = scene_with(kPoleMass);
  const double base = scene.model->param_default(Param::kBodyMass, 2);
  engine::VectorEnv env(scene.model, scene.config);
  const auto masses = pole_masses(env);
  for (double m : masses) {
    EXPECT_GE(m, 0.5 * base);
    EXPECT_LE(m, 2.0 * base);
  }
  EXPECT_GT(std::set<double>(masses.begin(), masses.end()).size(), 12u);
  EXPECT_TRUE(env.world(0).has_own_parameters());
  // The cart was not a target: every env still sees the model's cart mass.
  EXPECT_EQ(env.world(3).param(Param::kBodyMass, 1),
            scene.model->param_default(Param::kBodyMass, 1));

  auto plain = scene_with("");
  engine::VectorEnv shared(plain.model, plain.config);
  EXPECT_FALSE(shared.world(0).has_own_parameters());  // no randomization, no copy
}

TEST(Randomize, ReproducibleFromTheSeedAndIndependentOfThreads) {
  auto draw = [](std::uint64_t seed, int threads) {
    auto scene = scene_with(kPoleMass);
    scene.config.seed = seed;
    scene.config.num_threads = threads;
    engine::VectorEnv env(scene.model, scene.config);
    std::vector<float> actions(16, 0.1f);
    for (int s = 0; s < 12; ++s)
      env.step(actions);  // crosses two episode boundaries
    return pole_masses(env);
  };
  const auto one = draw(21, 1);
  EXPECT_EQ(one, draw(21, 2));
  EXPECT_EQ(one, draw(21, 1));
  EXPECT_NE(one, draw(22, 1));
}

TEST(Randomize, ResetModeRedrawsEachEpisodeStartupModeDoesNot) {
  for (const char* mode : {"reset", "startup"}) {
    auto scene =
        scene_with(std::string("[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pole\"]\n"
                               "range = [0.5, 2.0]\nmode = \"") +
                   mode + "\"\n");
    engine::VectorEnv env(scene.model, scene.config);
    const auto before = pole_masses(env);
    // Both modes draw per env when the env is made (startup) or first reset (reset).
    EXPECT_GT(std::set<double>(before.begin(), before.end()).size(), 12u) << mode;
    std::vector<float> actions(16, 0.0f);
    for (int s = 0; s < 5; ++s)
      env.step(actions);  // 5 steps = one 0.05 s episode: all reset
    ASSERT_EQ(env.stats().episodes, 16u);
    if (std::string(mode) == "reset")
      EXPECT_NE(pole_masses(env), before) << mode;
    else
      EXPECT_EQ(pole_masses(env), before) << mode;
  }
}

TEST(Randomize, ChangesTheDynamicsOfThatEnv) {
  // Same seed, same tilted start (reset noise has its own stream). Without gravity the pole stays
  // where it started; with the model's gravity it falls.
  const std::string start = "[reset]\nqpos_noise = 0.2\nqvel_noise = 0\n";
  auto zero_g = scene_with(start +
                               "[[randomize]]\nparam = \"gravity_z\"\noperation = \"absolute\"\n"
                               "range = [0, 0]\n",
                           1);
  auto normal = scene_with(start, 1);
  zero_g.config.max_episode_steps = normal.config.max_episode_steps = 0;
  engine::VectorEnv a(zero_g.model, zero_g.config), b(normal.model, normal.config);
  EXPECT_EQ(a.world(0).param(Param::kGravityZ, 0), 0.0);
  EXPECT_EQ(normal.model->param_default(Param::kGravityZ, 0), -9.81);
  const float hinge0 = a.batch().obs(0, 1);
  ASSERT_EQ(hinge0, b.batch().obs(0, 1));
  ASSERT_GT(std::abs(hinge0), 0.01f);
  const float zero[] = {0.0f};
  for (int s = 0; s < 50; ++s) {
    a.step(zero);
    b.step(zero);
  }
  EXPECT_NEAR(a.batch().obs(0, 1), hinge0, 1e-3);
  EXPECT_GT(std::abs(b.batch().obs(0, 1) - hinge0), 0.1);
}

TEST(Randomize, GaussianAndLogUniformDrawsAreUsed) {
  auto scene = scene_with(
      "[[randomize]]\nparam = \"geom_friction\"\ndistribution = \"gaussian\"\nrange = [1.0, 0.1]\n"
      "[[randomize]]\nparam = \"actuator_gain\"\nmode = \"startup\"\ndistribution = "
      "\"log_uniform\"\n"
      "range = [0.5, 2.0]\n");
  engine::VectorEnv env(scene.model, scene.config);
  const double gain0 = scene.model->param_default(Param::kActuatorGain, 0);
  const double friction0 = scene.model->param_default(Param::kGeomFriction, 1);
  std::set<double> gains;
  double sum = 0, sq = 0;
  for (int e = 0; e < 16; ++e) {
    const double gain = env.world(e).param(Param::kActuatorGain, 0);
    EXPECT_GE(gain, 0.5 * gain0);
    EXPECT_LE(gain, 2.0 * gain0);
    gains.insert(gain);
    const double f = env.world(e).param(Param::kGeomFriction, 1) / friction0;
    sum += f;
    sq += f * f;
  }
  EXPECT_GT(gains.size(), 12u);  // drawn per env, not left at the model's value
  const double mean = sum / 16, stddev = std::sqrt(sq / 16 - mean * mean);
  EXPECT_NEAR(mean, 1.0, 0.1);
  EXPECT_GT(stddev, 0.03);  // a gaussian of stddev 0.1, not a constant
  EXPECT_LT(stddev, 0.3);
}

TEST(RandomizeErrors, NameTheLocationAndTheProblem) {
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"body_mas\"\nrange = [1, 2]\n"),
            "spec.toml:4:9: randomize[0].param: unknown parameter 'body_mas'; did you mean "
            "'body_mass'?");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"body_mass\"\ntargets = [\"pol\"]\nrange = [1, 2]\n"),
            "spec.toml:5:11: randomize[0].targets: the model has no element 'pol' for body_mass; "
            "did you mean 'pole'?");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"body_mass\"\nrange = [2, 1]\n"),
            "spec.toml:5:9: randomize[0].range: low (2) > high (1)");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"body_mass\"\noperation = \"absolute\"\n"
                     "range = [-1, 1]\n"),
            "spec.toml:6:9: randomize[0].range: a negative body_mass is impossible (range reaches "
            "-1)");
  EXPECT_EQ(error_of("[[randomize]]\nparam = \"body_mass\"\nrange = 3\n"),
            "spec.toml:5:9: randomize[0].range: expected range = [low, high] (two numbers)");
  EXPECT_EQ(
      error_of("[[randomize]]\nparam = \"body_mass\"\nmode = \"sometimes\"\nrange = [1, 2]\n"),
      "spec.toml:5:8: randomize[0].mode: unknown mode 'sometimes' (one of: startup, reset, "
      "interval)");
}

}  // namespace
}  // namespace simlab::scenes
