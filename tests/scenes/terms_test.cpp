// Observation, reward and termination terms over joints, bodies, sites, sensors and contacts, as
// the built-in scenes use them.
#include "scenes/terms.h"

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "scenes/scene.h"
#include "tests/support/scenes.h"

namespace simlab::scenes {
namespace {

using engine::physics::Element;
using engine::physics::Quantity;
using engine::physics::World;

void set_joint(World& world, const engine::physics::Model& model, const std::string& joint,
               double value) {
  const double q[] = {value};
  world.write(Quantity::kJointPos, index_of(model, Element::kJoint, joint), q);
  world.forward();
}

std::vector<float> observe(const Scene& scene, const World& world) {
  std::vector<float> obs(static_cast<std::size_t>(scene.config.task.observation.dim()));
  scene.config.task.observe(world, obs);
  return obs;
}

// A scene on the push arm's model with the rest of its spec in `text`.
Scene push_scene(const std::string& text) {
  return compile_scene(parse_scene("model = \"models/push.xml\"\n" + text, "spec.toml"));
}

// The length of the 3-vector at obs[first].
double length3(const std::vector<float>& obs, std::size_t first) {
  return std::sqrt(obs[first] * obs[first] + obs[first + 1] * obs[first + 1] +
                   obs[first + 2] * obs[first + 2]);
}

// The error a spec on the reacher model raises.
std::string reacher_error(const std::string& text) {
  return error_of("model = \"models/reacher.xml\"\n" + text);
}

TEST(Terms, ReacherRewardsTheFingertipOnTheTargetAndSeesTheOffset) {
  const auto scene = builtin("reacher");
  const auto& model = *scene.model;
  auto world = model.make_world(scene.config.reset);
  const float still[] = {0.0f, 0.0f};
  // Arm straight along +x: the fingertip is at (0.21, 0). Target right there: reward ~1.
  set_joint(*world, model, "shoulder", 0.0);
  set_joint(*world, model, "elbow", 0.0);
  double tip[3];
  world->read(Quantity::kSitePos, index_of(model, Element::kSite, "fingertip"), tip);
  // Move the target (two slides) by the gap between it and the fingertip.
  double target[3], slide_x[1], slide_y[1];
  world->read(Quantity::kBodyPos, index_of(model, Element::kBody, "target"), target);
  world->read(Quantity::kJointPos, index_of(model, Element::kJoint, "target_x"), slide_x);
  world->read(Quantity::kJointPos, index_of(model, Element::kJoint, "target_y"), slide_y);
  set_joint(*world, model, "target_x", slide_x[0] + tip[0] - target[0]);
  set_joint(*world, model, "target_y", slide_y[0] + tip[1] - target[1]);
  const float on_target = scene.config.task.reward(*world, still);
  EXPECT_NEAR(on_target, 1.0f, 1e-3);
  auto obs = observe(scene, *world);
  ASSERT_EQ(obs.size(), 7u);        // 2 angles, 2 velocities, offset (x, y, z)
  EXPECT_NEAR(obs[4], 0.0f, 1e-5);  // offset fingertip -> target
  EXPECT_NEAR(obs[5], 0.0f, 1e-5);

  // 10 cm away: no sparse reward, and the shaping term costs 0.2 x 0.1.
  set_joint(*world, model, "target_y", slide_y[0] + tip[1] - target[1] + 0.1);
  EXPECT_NEAR(scene.config.task.reward(*world, still), -0.02f, 1e-4);
  obs = observe(scene, *world);
  EXPECT_NEAR(obs[5], 0.1f, 1e-5);
  EXPECT_EQ(scene.spec.observations[0].term, "joint_pos");
  EXPECT_EQ(scene.config.task.observation.names()[0], "joint_pos/shoulder");
}

TEST(Terms, QuadrupedTerminatesWhenLowOrTiltedAndRewardsForwardSpeed) {
  const auto scene = builtin("quadruped");
  const auto& model = *scene.model;
  const auto& task = scene.config.task;
  auto world = model.make_world(scene.config.reset);
  EXPECT_FALSE(task.terminated(*world));  // standing
  double root[7];
  world->read(Quantity::kJointPos, 0, root);
  root[2] = 0.05;  // torso on the ground
  world->write(Quantity::kJointPos, 0, root);
  world->forward();
  EXPECT_TRUE(task.terminated(*world));
  root[2] = 0.25;  // upside down: rotated 180 degrees about x
  root[3] = 0, root[4] = 1, root[5] = 0, root[6] = 0;
  world->write(Quantity::kJointPos, 0, root);
  world->forward();
  EXPECT_TRUE(task.terminated(*world));

  // Forward velocity pays up to its clip at 1 m/s; backwards costs.
  auto standing = model.make_world(scene.config.reset);
  const std::vector<float> zero(8, 0.0f);
  auto reward_at = [&](double vx) {
    double v[6] = {vx, 0, 0, 0, 0, 0};
    standing->write(Quantity::kJointVel, 0, v);
    standing->forward();
    return task.reward(*standing, zero);
  };
  EXPECT_NEAR(reward_at(0.5) - reward_at(0.0), 0.5f, 1e-4);
  EXPECT_NEAR(reward_at(3.0) - reward_at(0.0), 1.0f, 1e-4);
  EXPECT_LT(reward_at(-0.5), reward_at(0.0));
}

// body_heading: where the torso's x axis points on the ground, whatever its pitch; a torso with
// its x axis straight up has no heading.
TEST(Terms, BodyHeadingIsTheYawOfTheXAxisOnTheGround) {
  const auto scene = compile_scene(
      parse_scene("model = \"models/quadruped.xml\"\n[[observation]]\nterm = \"body_heading\"\n"
                  "body = \"torso\"\n",
                  "spec.toml"));
  const auto& model = *scene.model;
  ASSERT_EQ(scene.config.task.observation.dim(), 2);
  EXPECT_EQ(scene.config.task.observation.names()[0], "body_heading/torso/cos");
  auto world = model.make_world(scene.config.reset);
  // The root's orientation: yaw about z, then pitch about the body's y (w-first quaternions).
  auto heading_at = [&](double yaw, double pitch) {
    double root[7];
    world->read(Quantity::kJointPos, 0, root);
    const double cy = std::cos(yaw / 2), sy = std::sin(yaw / 2);
    const double cp = std::cos(pitch / 2), sp = std::sin(pitch / 2);
    root[3] = cy * cp, root[4] = -sy * sp, root[5] = cy * sp, root[6] = sy * cp;
    world->write(Quantity::kJointPos, 0, root);
    world->forward();
    return observe(scene, *world);
  };
  for (double yaw : {0.0, 0.7, 2.0, -2.8}) {
    for (double pitch : {0.0, 0.6, -1.2}) {
      const auto h = heading_at(yaw, pitch);
      EXPECT_NEAR(h[0], std::cos(yaw), 1e-5) << yaw << " " << pitch;
      EXPECT_NEAR(h[1], std::sin(yaw), 1e-5) << yaw << " " << pitch;
    }
  }
  const auto up = heading_at(0.3, -std::numbers::pi / 2);  // x axis straight up
  EXPECT_EQ(up[0], 0.0f);
  EXPECT_EQ(up[1], 0.0f);
}

TEST(Terms, RewardBreakdownSumsToTheRewardTermByTerm) {
  const auto scene = builtin("quadruped");
  const auto& model = *scene.model;
  const auto breakdown = compile_reward_breakdown(scene.spec, model);
  ASSERT_EQ(breakdown.labels.size(), scene.spec.rewards.size());
  EXPECT_EQ(breakdown.labels[0].rfind(scene.spec.rewards[0].term, 0), 0u) << breakdown.labels[0];
  auto world = model.make_world(scene.config.reset);
  double v[6] = {0.7, 0, 0, 0, 0, 0};
  world->write(Quantity::kJointVel, 0, v);
  world->forward();
  std::vector<float> action(8, 0.3f), terms(breakdown.labels.size());
  breakdown.evaluate(*world, action, terms);
  double sum = 0;
  int nonzero = 0;
  for (float t : terms)
    sum += t, nonzero += t != 0;
  EXPECT_NEAR(sum, scene.config.task.reward(*world, action), 1e-5);
  EXPECT_GE(nonzero, 2);  // the terms really are separate values
}

TEST(Terms, ContactPenaltyCountsTouches) {
  const auto scene = compile_scene(parse_scene(
      "model = \"models/quadruped.xml\"\ncontrol_hz = 50\n[[reward]]\nterm = \"contact\"\n"
      "body = \"fl_shin\"\nweight = 0.5\n[[termination]]\nterm = \"contact\"\nbody = \"torso\"\n",
      "spec.toml"));
  auto world = scene.model->make_world(scene.config.reset);
  const std::vector<float> zero(8, 0.0f);
  for (int s = 0; s < 50; ++s)
    world->step(zero, 4);
  // Standing: the front-left foot (on the shin body) touches the floor; the torso does not.
  EXPECT_LT(scene.config.task.reward(*world, zero), 0.0f);
  EXPECT_FALSE(scene.config.task.terminated(*world));
}

TEST(Terms, JointPenaltiesSumOverAListOrEveryJoint) {
  auto reward_with = [](const std::string& joints) {
    const auto scene = compile_scene(parse_scene(
        "model = \"models/quadruped.xml\"\n[[reward]]\nterm = \"joint_velocity\"\njoints = " +
            joints + "\nweight = 2.0\n",
        "spec.toml"));
    auto world = scene.model->make_world(scene.config.reset);
    for (const auto& [joint, speed] : std::vector<std::pair<std::string, double>>{
             {"fl_hip", 0.5}, {"fr_hip", -1.0}, {"hl_knee", 2.0}}) {
      const double v[] = {speed};
      world->write(Quantity::kJointVel, index_of(*scene.model, Element::kJoint, joint), v);
    }
    world->forward();
    return scene.config.task.reward(*world, std::vector<float>(8, 0.0f));
  };
  EXPECT_NEAR(reward_with("[\"fl_hip\", \"fr_hip\"]"), -2.0 * (0.25 + 1.0), 1e-5);
  EXPECT_NEAR(reward_with("[\"*\"]"), -2.0 * (0.25 + 1.0 + 4.0), 1e-5);  // the root is not one
  EXPECT_NEAR(reward_with("\"hl_knee\""), -2.0 * 4.0, 1e-5);

  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"joint_velocity\"\njoint = \"shoulder\"\n"
                          "joints = [\"elbow\"]\n"),
            "spec.toml:5:10: reward[0].joints: give joint or joints, not both");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"upright\"\njoints = [\"shoulder\"]\n"),
            "spec.toml:4:10: reward[0].joints: term 'upright' takes one joint (joint = "
            "\"name\"); joints = [...] is for the penalties that sum over joints");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"joint_position\"\n"),
            "spec.toml:2:1: reward[0].joint: term 'joint_position' needs joint (one name) or "
            "joints (a list)");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"joint_velocity\"\njoints = [\"elbw\"]\n"),
            "spec.toml:4:10: reward[0].joints: the model has no hinge or slide joint 'elbw'; did "
            "you mean 'elbow'?");
}

TEST(Terms, BehindMovesTheTargetToTheSpotToPushItFrom) {
  // The push arm at home: pusher at (0.8, 0), goal at (0.45, 0), the upper arm's body at the
  // origin. The spot to push the goal towards the upper arm from lies 0.1 m beyond it, in +x.
  const auto scene = push_scene(
      "[[observation]]\nterm = \"offset\"\nfrom = \"pusher\"\nto = \"goal\"\n"
      "[[observation]]\nterm = \"offset\"\nfrom = \"pusher\"\nto = \"goal\"\n"
      "behind = \"upper_arm\"\ngap = 0.1\n"
      "[[reward]]\nterm = \"distance\"\nfrom = \"pusher\"\nto = \"goal\"\nbehind = \"upper_arm\"\n"
      "gap = 0.1\n");
  auto world = scene.model->make_world(scene.config.reset);
  const auto obs = observe(scene, *world);
  ASSERT_EQ(obs.size(), 6u);
  EXPECT_NEAR(obs[0], -0.35, 1e-3);
  EXPECT_NEAR(obs[3] - obs[0], 0.1, 1e-6);  // moved along +x only
  EXPECT_FLOAT_EQ(obs[4], obs[1]);
  EXPECT_FLOAT_EQ(obs[5], obs[2]);
  const double spot = length3(obs, 3);
  EXPECT_NEAR(scene.config.task.reward(*world, std::vector<float>(3, 0.0f)), -spot, 1e-5);

  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"body_upright\"\nbody = \"upper_arm\"\n"
                          "behind = \"target\"\n"),
            "spec.toml:5:10: reward[0].behind: only distance, near and offset terms take behind");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\ngap = 0.1\n"),
            "spec.toml:6:7: reward[0].gap: gap needs behind (the point `to` is pushed towards)");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\nbehind = \"root\"\ngap = -1\n"),
            "spec.toml:7:7: reward[0].gap: must be in [0, 10] m");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\nbehind = \"tagret\"\n"),
            "spec.toml:6:10: reward[0].behind: the model has no site or body 'tagret'; did you "
            "mean 'target'?");
}

TEST(Terms, HorizontalMeasuresInTheTablesPlane) {
  // Slide the goal (on the table) right under the pusher's site (0.8, 0, 0.0425): 3D they stay
  // the pusher's height apart, in the table's plane they coincide.
  const auto scene = push_scene(
      "[[observation]]\nterm = \"offset\"\nfrom = \"goal\"\nto = \"pusher\"\n"
      "[[observation]]\nterm = \"offset\"\nfrom = \"goal\"\nto = \"pusher\"\n"
      "horizontal = true\n"
      "[[reward]]\nterm = \"near\"\nfrom = \"goal\"\nto = \"pusher\"\nmax = 0.01\n"
      "[[reward]]\nterm = \"near\"\nfrom = \"goal\"\nto = \"pusher\"\nmax = 0.01\n"
      "horizontal = true\nweight = 10\n"
      "[[reward]]\nterm = \"distance\"\nfrom = \"goal\"\nto = \"pusher\"\n"
      "horizontal = false\nweight = 100\n");
  auto world = scene.model->make_world(scene.config.reset);
  const std::vector<float> still(3, 0.0f);
  set_joint(*world, *scene.model, "goal_x", 0.35);
  const auto obs = observe(scene, *world);
  ASSERT_EQ(obs.size(), 6u);
  const double height = obs[2];
  ASSERT_GT(height, 0.02);
  EXPECT_LT(std::hypot(obs[0], obs[1]), 1e-3);
  EXPECT_FLOAT_EQ(obs[3], obs[0]);
  EXPECT_FLOAT_EQ(obs[4], obs[1]);
  EXPECT_EQ(obs[5], 0.0f);
  // Only the horizontal `near` fires (10); the 3D distance is the height (x100).
  EXPECT_NEAR(scene.config.task.reward(*world, still), 10 - 100 * length3(obs, 0), 1e-4);

  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"body_upright\"\nbody = \"upper_arm\"\n"
                          "horizontal = true\n"),
            "spec.toml:5:14: reward[0].horizontal: only distance, near, offset and closing_speed "
            "terms take horizontal");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\nhorizontal = \"yes\"\n"),
            "spec.toml:6:14: reward[0].horizontal: expected true or false, got string");
}

TEST(Terms, ClosingSpeedIsHowFastABodyMovesTowardsAPointClipped) {
  // The goal body at (0.45, 0, 0) slides along x; the pusher's site is at (0.8, 0, 0.0425).
  const auto scene = push_scene(
      "[[observation]]\nterm = \"offset\"\nfrom = \"goal\"\nto = \"pusher\"\n"
      "[[reward]]\nterm = \"closing_speed\"\nfrom = \"goal\"\nto = \"pusher\"\nweight = 2\n"
      "[[reward]]\nterm = \"closing_speed\"\nfrom = \"goal\"\nto = \"pusher\"\nmin = -0.1\n"
      "max = 0.05\nweight = 10\n");
  auto world = scene.model->make_world(scene.config.reset);
  const auto obs = observe(scene, *world);
  const double along = obs[0] / length3(obs, 0);  // the cosine between x and the line to the pusher
  ASSERT_NEAR(obs[0], 0.35, 1e-3);
  const std::vector<float> still(3, 0.0f);
  EXPECT_NEAR(scene.config.task.reward(*world, still), 0.0, 1e-9) << "at rest";
  const int goal_x = index_of(*scene.model, Element::kJoint, "goal_x");
  auto move = [&](double v) {
    const double qd[] = {v};
    world->write(Quantity::kJointVel, goal_x, qd);
    world->forward();
    return scene.config.task.reward(*world, still);
  };
  // Towards the pusher at 0.3 m/s: 2 * 0.3 * cos, plus the clipped term's 10 * 0.05.
  EXPECT_NEAR(move(0.3), 2 * 0.3 * along + 10 * 0.05, 1e-6);
  // Away: negative, and the clipped term stops at its min.
  EXPECT_NEAR(move(-0.3), -2 * 0.3 * along + 10 * -0.1, 1e-6);
  EXPECT_NEAR(move(-0.005), -2 * 0.005 * along - 10 * 0.005 * along, 1e-6);

  const std::string error = error_of(
      "model = \"models/push.xml\"\n[[reward]]\nterm = \"closing_speed\"\nfrom = \"pusher\"\n"
      "to = \"goal\"\n");
  EXPECT_NE(error.find("spec.toml:4:8: reward[0].from: closing_speed needs a body as `from` (its "
                       "velocity), got 'pusher'"),
            std::string::npos)
      << error;
}

TEST(Terms, TanhScaleTurnsADistanceIntoAKernelThatPeaksAtThePoint) {
  // Pusher at (0.8, 0), goal at (0.45, 0): 0.35 m apart at home.
  const auto scene = push_scene(
      "[[observation]]\nterm = \"offset\"\nfrom = \"pusher\"\nto = \"goal\"\n"
      "[[reward]]\nterm = \"distance\"\nfrom = \"pusher\"\nto = \"goal\"\ntanh_scale = 5\n"
      "weight = 2\n");
  auto world = scene.model->make_world(scene.config.reset);
  const auto obs = observe(scene, *world);
  const double d = length3(obs, 0);
  ASSERT_NEAR(std::hypot(obs[0], obs[1]), 0.35, 1e-3);
  const std::vector<float> still(3, 0.0f);
  const double far = scene.config.task.reward(*world, still);
  EXPECT_NEAR(far, 2 * (1 - std::tanh(5 * d)), 1e-5);
  // Nearer scores more: move the goal onto the pusher (goal_x slides along x).
  set_joint(*world, *scene.model, "goal_x", 0.35);
  const auto on = observe(scene, *world);
  const double near = length3(on, 0);
  EXPECT_LT(std::hypot(on[0], on[1]), 1e-3);
  EXPECT_NEAR(scene.config.task.reward(*world, still), 2 * (1 - std::tanh(5 * near)), 1e-5);
  EXPECT_GT(scene.config.task.reward(*world, still), far + 0.5);

  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"near\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\nmax = 0.1\ntanh_scale = 5\n"),
            "spec.toml:7:14: reward[0].tanh_scale: only distance terms take tanh_scale");
  EXPECT_EQ(reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\ntanh_scale = 0\n"),
            "spec.toml:6:14: reward[0].tanh_scale: must be in (0, 1000] per metre");
  EXPECT_NE(reacher_error("[[observation]]\nterm = \"offset\"\nfrom = \"fingertip\"\n"
                          "to = \"target\"\ntanh_scale = 5\n")
                .find("observation[0].tanh_scale: unknown key"),
            std::string::npos);
}

TEST(Terms, ErrorsNameTheElementWithASuggestion) {
  EXPECT_EQ(
      reacher_error("[[reward]]\nterm = \"distance\"\nfrom = \"fingertipp\"\nto = \"target\"\n"),
      "spec.toml:4:8: reward[0].from: the model has no site or body 'fingertipp'; did you "
      "mean 'fingertip'?");
  EXPECT_EQ(reacher_error("[[observation]]\nterm = \"site_pos\"\n"),
            "spec.toml:2:1: observation[0].site: term 'site_pos' needs site");
  EXPECT_EQ(reacher_error("[[observation]]\nterm = \"joint_pos\"\njoints = [\"sholder\"]\n"),
            "spec.toml:4:10: observation[0].joints: the model has no joint 'sholder'; did you "
            "mean 'shoulder'?");
  EXPECT_EQ(reacher_error("[[termination]]\nterm = \"body_below\"\nbody = \"forearm\"\n"),
            "spec.toml:2:1: termination[0].min: term 'body_below' needs min");
}

TEST(Terms, VariantsWithDifferentRawObservationsNeedObservationTerms) {
  // Objects change qpos size between variants: without [[observation]] terms the layouts differ.
  const auto scene = push_scene(
      "[procedural]\nvariants = 8\n"
      "[[procedural.objects]]\ncount = [1, 3]\nregion = [0.3, -0.25, 0.6, 0.25]\n"
      "contype = 3\nconaffinity = 3\n");
  try {
    make_env(scene, 8, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("declare observation terms that every variant has"),
              std::string::npos)
        << e.what();
  }
}

TEST(Cameras, TrackingCamerasFollowTheirBodyAndJitterPerEnv) {
  const auto scene = builtin("quadruped");
  auto env = make_env(scene, 4, 1, 9);
  const int follow = find_camera(scene.spec, "follow");
  const auto& model = env->variant_model(env->variant_of(2));
  double torso[3];
  env->world(2).read(Quantity::kBodyPos, index_of(model, Element::kBody, "torso"), torso);
  const auto view = camera_view(scene, follow, env->world(2), 2, 9);
  EXPECT_NEAR(view.eye[0], torso[0] - 1.2, 1e-9);
  EXPECT_NEAR(view.eye[2], torso[2] + 0.7, 1e-9);
  EXPECT_NEAR(view.target[1], torso[1], 1e-9);
  EXPECT_EQ(view.fovy, 50);

  const auto push = builtin("push");
  auto push_env = make_env(push, 3, 1, 4);
  const auto a = camera_view(push, 0, push_env->world(0), 0, 4);
  const auto b = camera_view(push, 0, push_env->world(1), 1, 4);
  const auto again = camera_view(push, 0, push_env->world(0), 0, 4);
  EXPECT_EQ(a.eye[0], again.eye[0]);  // the same env and seed: the same pose
  EXPECT_NE(a.eye[0], b.eye[0]);      // another env: another jitter
  for (int k = 0; k < 3; ++k) {
    const double base[3] = {1.05, -0.55, 0.6};
    EXPECT_LE(std::abs(a.eye[k] - base[k]), 0.03);
  }
  // Orientation jitter: the look-at point and the field of view move too, within their noise.
  const CameraSpec& spec = push.spec.cameras[0];
  double target_moved = 0;
  for (int k = 0; k < 3; ++k) {
    EXPECT_LE(std::abs(a.target[k] - spec.target[k]), spec.target_noise);
    target_moved += std::abs(a.target[k] - b.target[k]);
  }
  EXPECT_GT(target_moved, 0);
  EXPECT_NE(a.fovy, b.fovy);
  EXPECT_LE(std::abs(a.fovy - spec.fovy), spec.fovy_noise);
  EXPECT_GT(spec.target_noise, 0);
  EXPECT_GT(spec.fovy_noise, 0);
}

TEST(Cameras, ErrorsNameTheCameraAndTheBody) {
  EXPECT_EQ(reacher_error("[[camera]]\nname = \"c\"\ntrack = \"forarm\"\n"),
            "spec.toml:4:9: camera[0].track: the model has no body 'forarm' to track; did you mean "
            "'forearm'?");
  EXPECT_EQ(reacher_error("[[camera]]\nfovy = 200\n"),
            "spec.toml:3:8: camera[0].fovy: must be in (0, 180) degrees");
  EXPECT_EQ(reacher_error("[[camera]]\nfovy = 170\nfovy_noise = 20\n"),
            "spec.toml:4:14: camera[0].fovy_noise: must be >= 0 and keep fovy within (0, 180) "
            "degrees");
  EXPECT_EQ(reacher_error("[[camera]]\npos = [1, 2]\n"),
            "spec.toml:3:7: camera[0].pos: expected [x, y, z] (three numbers)");
  const auto scene = builtin("reacher");
  try {
    find_camera(scene.spec, "tpo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no camera 'tpo'; did you mean 'top'?"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace simlab::scenes
