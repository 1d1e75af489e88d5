// The sim-to-real terms: initial-state and interval randomization (pushes), new physical
// parameters, observation noise and dropout, action delay; and bit-identical rollouts of
// heterogeneous scenes whatever the thread count.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "scenes/scene.h"
#include "tests/support/scenes.h"

namespace simlab::scenes {
namespace {

using engine::physics::Element;
using engine::physics::Param;
using engine::physics::Quantity;

Scene scene_from(const std::string& text, std::uint64_t seed = 0) {
  return compile_scene(parse_scene(text, "spec.toml"), seed);
}

TEST(Sim2Real, InitialStateIsDrawnPerEnvAndEpisodeWithinItsRange) {
  const auto scene = compile_scene(load_scene(resolve_scene("reacher")));
  auto env = make_env(scene, 32, 2, 5);
  const auto& model = env->model();
  const auto joints = model.names(Element::kJoint);
  const int tx =
      static_cast<int>(std::find(joints.begin(), joints.end(), "target_x") - joints.begin());
  std::set<double> seen;
  for (int e = 0; e < 32; ++e) {
    double x[1];
    env->world(e).read(Quantity::kJointPos, tx, x);
    EXPECT_GE(x[0], -0.14);
    EXPECT_LE(x[0], 0.14);
    seen.insert(x[0]);
  }
  EXPECT_EQ(seen.size(), 32u);
  // The same seed gives the same start; the next episode a different one.
  auto again = make_env(scene, 32, 1, 5);
  double a[1], b[1];
  env->world(7).read(Quantity::kJointPos, tx, a);
  again->world(7).read(Quantity::kJointPos, tx, b);
  EXPECT_EQ(a[0], b[0]);
  std::vector<float> zero(32 * 2, 0.0f);
  for (int s = 0; s < 500; ++s)
    env->step(zero);  // one full episode: every env resets once
  env->world(7).read(Quantity::kJointPos, tx, b);
  EXPECT_NE(a[0], b[0]);
}

constexpr const char* kBox =
    "model = \"models/quadruped.xml\"\ncontrol_hz = 50\nepisode_seconds = 10\n"
    "[reset]\nqpos_noise = 0.0\nqvel_noise = 0.0\n";

TEST(Sim2Real, IntervalPushesChangeTheVelocityAtTheirInterval) {
  // A push of exactly +1 m/s along x and y every 0.1 s (5 control steps).
  const auto pushed = scene_from(std::string(kBox) +
                                 "[[randomize]]\nparam = \"push\"\ntargets = [\"root\"]\n"
                                 "mode = \"interval\"\ninterval_seconds = 0.1\nrange = [1, 1]\n");
  const auto plain = scene_from(kBox);
  EXPECT_TRUE(pushed.config.randomize_interval);
  auto a = make_env(pushed, 2, 1), b = make_env(plain, 2, 1);
  const std::vector<float> stand(2 * 8, 0.0f);  // zero offsets: the servos hold the stance
  auto vx = [](const engine::VectorEnv& env) {
    double v[6];
    env.world(0).read(Quantity::kJointVel, 0, v);
    return v[0];
  };
  for (int s = 1; s <= 5; ++s) {
    a->step(stand);
    b->step(stand);
    if (s < 5) {
      EXPECT_EQ(vx(*a), vx(*b)) << "no push before step 5";
    }
  }
  EXPECT_NEAR(vx(*a) - vx(*b), 1.0, 1e-9) << "pushed right after step 5";
}

// The planar cheetah without start noise: its root is the slides rootx, rootz and the hinge rooty.
const std::string kCheetah =
    "model = \"models/cheetah.xml\"\ncontrol_hz = 50\n[reset]\nqpos_noise = 0.0\n"
    "qvel_noise = 0.0\n";

TEST(Sim2Real, PushesOnASlideJointChangeItsVelocityAlone) {
  // A planar robot's root is three joints: a push on the horizontal slide (cheetah's rootx).
  const auto pushed =
      scene_from(kCheetah +
                 "[[randomize]]\nparam = \"push\"\ntargets = [\"rootx\"]\n"
                 "mode = \"interval\"\ninterval_seconds = 0.1\nrange = [0.7, 0.7]\n");
  auto a = make_env(pushed, 1, 1), b = make_env(scene_from(kCheetah), 1, 1);
  const std::vector<float> zero(6, 0.0f);
  auto v = [](const engine::VectorEnv& env, int joint) {
    double x[6];
    env.world(0).read(Quantity::kJointVel, joint, x);
    return x[0];
  };
  for (int s = 1; s <= 4; ++s) {
    a->step(zero);
    b->step(zero);
  }
  EXPECT_EQ(v(*a, 0), v(*b, 0)) << "no push before step 5";
  a->step(zero);
  b->step(zero);
  EXPECT_NEAR(v(*a, 0) - v(*b, 0), 0.7, 1e-9) << "rootx pushed right after step 5";
  EXPECT_EQ(v(*a, 1), v(*b, 1)) << "rootz untouched";
  EXPECT_EQ(v(*a, 2), v(*b, 2)) << "rooty untouched";
  // A hinge cannot be shoved: the error names what can.
  EXPECT_EQ(error_of(kCheetah + "[[randomize]]\nparam = \"push\"\ntargets = [\"bthigh\"]\n"
                                "mode = \"interval\"\ninterval_seconds = 1\nrange = [0, 1]\n"),
            "spec.toml:8:11: randomize[0].targets: 'bthigh' cannot take push (it applies to: "
            "rootx, rootz)");
}

TEST(Sim2Real, HeldOutShovesOfAPlanarRootLieBeyondTheTrainingRange) {
  // cheetah-trot's shoves: +-0.5 m/s in training, 0.5-1 m/s either way held out, none without
  // randomization. A shove every control step: the first one is the velocity difference to an
  // unshoved env after one step.
  const std::string shoves = kCheetah +
                             "[[randomize]]\nparam = \"push\"\ntargets = [\"rootx\"]\n"
                             "mode = \"interval\"\ninterval_seconds = 0.02\nrange = [-0.5, 0.5]\n"
                             "heldout = [-1.0, 1.0]\n";
  constexpr int kEnvs = 32;
  auto plain = make_env(scene_from(kCheetah), kEnvs, 1);
  const std::vector<float> zero(kEnvs * 6, 0.0f);
  plain->step(zero);
  auto first_shoves = [&](Randomization r) {
    auto env =
        make_env(compile_scene(with_randomization(parse_scene(shoves, "spec.toml"), r)), kEnvs, 1);
    env->step(zero);
    std::vector<double> out;
    for (int e = 0; e < kEnvs; ++e) {
      double a[6], b[6];
      env->world(e).read(Quantity::kJointVel, 0, a);
      plain->world(e).read(Quantity::kJointVel, 0, b);
      out.push_back(a[0] - b[0]);
    }
    return out;
  };
  for (double d : first_shoves(Randomization::kTrain))
    EXPECT_LE(std::abs(d), 0.5 + 1e-9);
  int faster = 0;
  for (double d : first_shoves(Randomization::kHeldout)) {
    EXPECT_GE(std::abs(d), 0.5 - 1e-9);
    EXPECT_LE(std::abs(d), 1.0 + 1e-9);
    faster += d > 0;
  }
  EXPECT_GT(faster, 4) << "held-out shoves go both ways";
  EXPECT_LT(faster, kEnvs - 4);
  for (double d : first_shoves(Randomization::kNone))
    EXPECT_EQ(d, 0.0);
}

TEST(Sim2Real, NewParametersStayInTheirRanges) {
  const auto scene = scene_from(
      std::string(kBox) +
      "[[randomize]]\nparam = \"body_com\"\ntargets = [\"torso\"]\nrange = [-0.02, 0.02]\n"
      "[[randomize]]\nparam = \"joint_armature\"\nmode = \"startup\"\noperation = \"absolute\"\n"
      "range = [0.01, 0.02]\n"
      "[[randomize]]\nparam = \"actuator_force_limit\"\noperation = \"absolute\"\n"
      "range = [20, 30]\n"
      "[[randomize]]\nparam = \"geom_softness\"\ntargets = [\"floor\"]\nrange = [0.5, 2]\n"
      "[[randomize]]\nparam = \"light_diffuse\"\nrange = [0.5, 1.0]\n");
  auto env = make_env(scene, 8, 2, 3);
  const auto& model = env->model();
  std::set<double> com;
  for (int e = 0; e < 8; ++e) {
    const auto& w = env->world(e);
    for (Param p : {Param::kBodyComX, Param::kBodyComY, Param::kBodyComZ}) {
      const double offset = w.param(p, 1) - model.param_default(p, 1);
      EXPECT_LE(std::abs(offset), 0.02 + 1e-12);
      com.insert(offset);
    }
    for (int j = 1; j < 9; ++j) {
      EXPECT_GE(w.param(Param::kJointArmature, j), 0.01);
      EXPECT_LE(w.param(Param::kJointArmature, j), 0.02);
    }
    for (int a = 0; a < 8; ++a) {
      EXPECT_GE(w.param(Param::kActuatorForceLimit, a), 20.0);
      EXPECT_LE(w.param(Param::kActuatorForceLimit, a), 30.0);
    }
    const double soft =
        w.param(Param::kGeomSoftness, 0) / model.param_default(Param::kGeomSoftness, 0);
    EXPECT_GE(soft, 0.5);
    EXPECT_LE(soft, 2.0);
  }
  EXPECT_EQ(com.size(), 24u);
  std::vector<float> zero(8 * 8, 0.0f);
  for (int s = 0; s < 20; ++s)
    env->step(zero);
  EXPECT_EQ(env->stats().diverged, 0u);
}

// MuJoCo raises a contact time constant below 2 x timestep to that floor (refsafe) without a
// word: a softness range that reaches below it is refused, naming the geom; the quadruped's model
// disables the floor, so there the stiffest draws are what the spec says.
TEST(Sim2Real, ContactStifferThanTheTimestepAllowsIsRefusedUnlessTheModelAllowsIt) {
  const std::string stiff =
      "[[randomize]]\nparam = \"geom_softness\"\ntargets = [\"floor\"]\nrange = [0.25, 1]\n";
  const std::string cartpole =
      "model = \"models/cartpole.xml\"\ncontrol_hz = 100\nepisode_seconds = 1\n";
  EXPECT_EQ(error_of(cartpole + stiff),
            "spec.toml:5:9: randomize[0].param: geom 'floor' would get a contact time constant of "
            "0.005 s, below the 0.02 s (2 x timestep) that MuJoCo silently raises it to: add <flag "
            "refsafe=\"disable\"/> to the model's <option>, or narrow the range");
  EXPECT_NO_THROW(scene_from(cartpole + "[[randomize]]\nparam = \"geom_softness\"\ntargets = "
                                        "[\"floor\"]\nrange = [1, 2]\n"));
  auto env = make_env(scene_from(std::string(kBox) + stiff), 16, 2, 3);
  const double nominal = env->model().param_default(Param::kGeomSoftness, 0);
  double lowest = nominal;
  for (int e = 0; e < 16; ++e)
    lowest = std::min(lowest, env->world(e).param(Param::kGeomSoftness, 0));
  EXPECT_LT(lowest, 0.01);  // below the 2 x 0.005 s floor
  EXPECT_GE(lowest, 0.25 * nominal - 1e-12);
  std::vector<float> zero(16 * 8, 0.0f);
  for (int s = 0; s < 50; ++s)
    env->step(zero);
  EXPECT_EQ(env->stats().diverged, 0u);
}

TEST(Sim2Real, ImpossibleRandomizationIsRejected) {
  EXPECT_EQ(error_of(std::string(kBox) +
                     "[[randomize]]\nparam = \"actuator_force_limit\"\nrange = [0.5, 1]\n"),
            "spec.toml:8:9: randomize[0].param: actuator 'fl_hip' has no force limit to scale; use "
            "operation = \"absolute\"");
  EXPECT_EQ(error_of(std::string(kBox) +
                     "[[randomize]]\nparam = \"push\"\nmode = \"startup\"\nrange = [0, 1]\n"),
            "spec.toml:9:8: randomize[0].mode: push changes the state, which every reset sets "
            "anew: use mode \"reset\" (initial state) or \"interval\"");
  EXPECT_EQ(error_of(std::string(kBox) +
                     "[[randomize]]\nparam = \"push\"\nmode = \"interval\"\nrange = [0, 1]\n"),
            "spec.toml:7:1: randomize[0].interval_seconds: mode \"interval\" needs "
            "interval_seconds > 0");
  EXPECT_EQ(error_of(std::string(kBox) + "[corruption]\naction_delay = [2, 1]\n"),
            "spec.toml:8:16: corruption.action_delay: low (2) > high (1)");
}

constexpr const char* kCartpole =
    "model = \"models/cartpole.xml\"\n[reset]\nqpos_noise = 0.0\nqvel_noise = 0.0\n";

TEST(Sim2Real, ActionDelayAppliesEachActionLaterAndTheFirstUntilThen) {
  // Delay 2: actions [a, 0, 0, 0] act as [a, a, a, 0] would without delay.
  const auto delayed = scene_from(std::string(kCartpole) + "[corruption]\naction_delay = 2\n");
  const auto plain = scene_from(kCartpole);
  auto a = make_env(delayed, 1, 1), b = make_env(plain, 1, 1);
  EXPECT_EQ(a->action_delay(0), 2);
  const float sent[] = {0.7f, 0.0f, 0.0f, 0.0f, 0.0f};
  const float applied[] = {0.7f, 0.7f, 0.7f, 0.0f, 0.0f};
  for (int s = 0; s < 5; ++s) {
    const auto& x = a->step(std::span(sent + s, 1));
    const auto& y = b->step(std::span(applied + s, 1));
    for (int k = 0; k < x.obs.cols(); ++k)
      EXPECT_EQ(x.obs(0, k), y.obs(0, k)) << "step " << s;
  }
}

TEST(Sim2Real, LastActionObservesTheCommandBeforeTheDelayClampedAndZeroAtEachStart) {
  // The previous action sits between the two joint terms: what was sent, not what the delay
  // applied, clamped to the control range [-1, 1], and zero again when an episode starts.
  const auto scene = scene_from("episode_seconds = 0.1\n" + std::string(kCartpole) +
                                "[[observation]]\nterm = \"joint_pos\"\njoints = [\"*\"]\n"
                                "[[observation]]\nterm = \"last_action\"\n"
                                "[[observation]]\nterm = \"joint_vel\"\njoints = [\"*\"]\n"
                                "[corruption]\naction_delay = 2\n");
  const auto& space = scene.config.task.observation;
  ASSERT_EQ(space.dim(), 5);
  EXPECT_EQ(scene.config.task.last_action_at, 2);
  EXPECT_EQ(space.names()[2], "last_action/slide");
  EXPECT_EQ(space.low()[2], -1.0f);
  EXPECT_EQ(space.high()[2], 1.0f);
  auto env = make_env(scene, 1, 1);
  EXPECT_EQ(env->batch().obs(0, 2), 0.0f);
  const int steps = scene.config.max_episode_steps;  // 5 at 50 Hz
  ASSERT_EQ(steps, 5);
  const float sent[] = {0.25f, -3.0f, 0.5f, 0.75f, 0.125f};
  const float seen[] = {0.25f, -1.0f, 0.5f, 0.75f};
  for (int s = 0; s < steps; ++s) {
    const auto& b = env->step(std::span(sent + s, 1));
    if (s + 1 < steps) {
      EXPECT_EQ(b.obs(0, 2), seen[s]) << "step " << s;
      EXPECT_NE(b.obs(0, 0), 0.0f) << "step " << s;  // the joint terms keep their places
    } else {
      ASSERT_TRUE(b.truncated(0, 0));
      EXPECT_EQ(b.final_obs(0, 2), 0.125f);
      EXPECT_EQ(b.obs(0, 2), 0.0f);  // the next episode's first observation
    }
  }
  // One term only.
  const auto twice = error_of(std::string(kCartpole) + "[[observation]]\nterm = \"last_action\"\n" +
                              "[[observation]]\nterm = \"last_action\"\n");
  EXPECT_NE(twice.find("spec.toml:8:8: observation[1].term"), std::string::npos) << twice;
  EXPECT_NE(twice.find("a second 'last_action' term"), std::string::npos) << twice;
}

TEST(Sim2Real, NoiseAndDropoutCorruptOnlyTheObservation) {
  const auto noisy = scene_from(
      std::string(kCartpole) +
      "[[observation]]\nterm = \"joint_pos\"\njoints = [\"*\"]\nnoise = 0.1\n"
      "[[observation]]\nterm = \"joint_vel\"\njoints = [\"*\"]\n"
      "[[reward]]\nterm = \"upright\"\njoint = \"hinge\"\n[corruption]\nobs_dropout = 0.25\n");
  auto clean_spec = parse_scene(std::string(kCartpole) +
                                    "[[observation]]\nterm = \"joint_pos\"\njoints = [\"*\"]\n"
                                    "[[observation]]\nterm = \"joint_vel\"\njoints = [\"*\"]\n"
                                    "[[reward]]\nterm = \"upright\"\njoint = \"hinge\"\n",
                                "spec.toml");
  const auto clean = compile_scene(clean_spec);
  ASSERT_EQ(noisy.config.corruption.obs_noise, (std::vector<float>{0.1f, 0.1f, 0.0f, 0.0f}));
  constexpr int kEnvs = 64;
  auto a = make_env(noisy, kEnvs, 2, 1), b = make_env(clean, kEnvs, 2, 1);
  std::vector<float> actions(kEnvs, 0.1f);
  double sum_sq = 0;
  int noise_n = 0, zeros = 0, elements = 0;
  for (int s = 0; s < 20; ++s) {
    const auto& x = a->step(actions);
    const auto& y = b->step(actions);
    for (int e = 0; e < kEnvs; ++e) {
      EXPECT_EQ(x.reward(e, 0), y.reward(e, 0));  // rewards read the true state
      for (int k = 0; k < 4; ++k, ++elements) {
        if (x.obs(e, k) == 0.0f) {
          ++zeros;
        } else if (k < 2) {
          const double d = x.obs(e, k) - y.obs(e, k);
          sum_sq += d * d;
          ++noise_n;
        } else {
          EXPECT_EQ(x.obs(e, k), y.obs(e, k));  // velocities carry no noise
        }
      }
    }
  }
  EXPECT_NEAR(std::sqrt(sum_sq / noise_n), 0.1, 0.01);
  EXPECT_NEAR(static_cast<double>(zeros) / elements, 0.25, 0.03);
}

// Every obs and reward of a heterogeneous scene with every kind of randomness in play.
std::vector<float> rollout(const std::string& name, int threads) {
  const auto scene = compile_scene(load_scene(resolve_scene(name)), 11, 8);
  auto env = make_env(scene, 12, threads, 11);
  const int act = env->action_space().dim();
  std::vector<float> actions(static_cast<std::size_t>(12 * act)), out;
  engine::Rng rng(3, 0, 0);
  for (int s = 0; s < 160; ++s) {
    for (auto& a : actions)
      a = static_cast<float>(rng.uniform(-1.0, 1.0));
    const auto& b = env->step(actions);
    out.insert(out.end(), b.obs.flat().begin(), b.obs.flat().end());
    out.insert(out.end(), b.reward.flat().begin(), b.reward.flat().end());
  }
  return out;
}

TEST(Sim2Real, HeterogeneousScenesAreBitIdenticalAcrossThreadCounts) {
  for (const char* name : {"quadruped", "push"}) {
    const auto one = rollout(name, 1);
    EXPECT_EQ(one, rollout(name, 2)) << name;
    EXPECT_EQ(one, rollout(name, 3)) << name;
  }
}

}  // namespace
}  // namespace simlab::scenes
