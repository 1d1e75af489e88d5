// The Bullet backend against analytic results and against MuJoCo on the same compiled model.
#include "engine/physics/bullet/bullet_backend.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "tests/support/models.h"

namespace simlab::engine::physics {
namespace {

constexpr BackendKind kBullet = BackendKind::kBullet;
constexpr BackendKind kMuJoCo = BackendKind::kMuJoCo;

std::shared_ptr<const Model> load(const std::string& xml, BackendKind backend,
                                  const char* name = "<test>.xml") {
  return load_model(ModelSource::string(xml, name), backend);
}

ResetOptions exact_reset() {
  ResetOptions options;
  options.qpos_noise = 0;
  options.qvel_noise = 0;
  return options;
}

std::vector<float> observe(const Model& model, const World& world) {
  std::vector<float> obs(static_cast<std::size_t>(model.info().observation.dim()));
  world.observe(obs);
  return obs;
}

double read1(const World& world, Quantity q, int index, int k = 0) {
  double out[7];
  world.read(q, index, out);
  return out[k];
}

void set_joint(World& world, int joint, std::vector<double> pos, std::vector<double> vel = {}) {
  world.write(Quantity::kJointPos, joint, pos);
  if (!vel.empty()) world.write(Quantity::kJointVel, joint, vel);
  world.forward();
}

// A physical pendulum: a 1 kg ball of radius 2 cm one metre below a hinge, no damping.
constexpr const char* kPendulum = R"(
<mujoco model="pendulum">
  <option timestep="0.001"/>
  <worldbody>
    <body name="arm">
      <joint name="hinge" type="hinge" axis="0 1 0"/>
      <geom type="sphere" pos="0 0 -1" size="0.02" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>)";

// Time between the first and the last of the upward zero crossings of the hinge angle, over the
// number of periods between them.
double measured_period(BackendKind backend, double amplitude) {
  auto model = load(kPendulum, backend);
  auto world = model->make_world(exact_reset());
  set_joint(*world, 0, {amplitude});
  const double dt = model->info().timestep;
  double previous = amplitude, first = -1, last = -1;
  int crossings = 0;
  const std::vector<float> ctrl;
  for (int i = 0; i < 12000; ++i) {
    EXPECT_EQ(world->step(ctrl, 1), StepStatus::kOk);
    const double angle = read1(*world, Quantity::kJointPos, 0);
    if (previous < 0 && angle >= 0) {
      const double t = world->time() - dt * angle / (angle - previous);  // interpolated
      if (first < 0) first = t;
      last = t;
      ++crossings;
    }
    previous = angle;
  }
  return (last - first) / (crossings - 1);
}

TEST(BulletBackend, PendulumPeriodMatchesTheAnalyticValueWithinOnePercent) {
  const double amplitude = 0.1, g = 9.81, mass = 1, length = 1, radius = 0.02;
  const double inertia = mass * length * length + 0.4 * mass * radius * radius;
  const double analytic = 2 * std::numbers::pi * std::sqrt(inertia / (mass * g * length)) *
                          (1 + amplitude * amplitude / 16);  // first amplitude correction
  const double bullet = measured_period(kBullet, amplitude);
  EXPECT_NEAR(bullet / analytic, 1.0, 0.01) << "bullet " << bullet << " s, analytic " << analytic;
  const double mujoco = measured_period(kMuJoCo, amplitude);
  EXPECT_NEAR(mujoco / analytic, 1.0, 0.01) << "mujoco " << mujoco << " s";
}

constexpr const char* kFreeBody = R"(
<mujoco model="free">
  <option timestep="0.001"/>
  <worldbody>
    <body name="ball" pos="0 0 10">
      <freejoint name="root"/>
      <geom type="box" size="0.1 0.2 0.3" mass="2" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>)";

TEST(BulletBackend, FreeFallFollowsTheAnalyticTrajectory) {
  auto model = load(kFreeBody, kBullet);
  auto world = model->make_world(exact_reset());
  const std::vector<float> ctrl;
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
  const double t = world->time(), g = 9.81;
  EXPECT_NEAR(t, 1.0, 1e-9);
  // Semi-implicit Euler: velocity exact, height off by g * dt * t / 2 (5 mm here).
  EXPECT_NEAR(read1(*world, Quantity::kJointVel, 0, 2), -g * t, 1e-6);
  EXPECT_NEAR(read1(*world, Quantity::kJointPos, 0, 2), 10 - g * t * t / 2, 0.006);
  EXPECT_NEAR(read1(*world, Quantity::kJointPos, 0, 0), 0, 1e-9);
}

TEST(BulletBackend, FreeBodySpinsAboutAPrincipalAxisAtItsInitialRate) {
  // Zero gravity; the body's frame is rotated so that state conversions (body frame against
  // Bullet's principal-axis base frame, local against world angular velocity) all take part.
  std::string xml = kFreeBody;
  xml.replace(xml.find("<option timestep=\"0.001\"/>"), 26,
              "<option timestep=\"0.001\" gravity=\"0 0 0\"/>");
  auto model = load(xml, kBullet);
  auto world = model->make_world(exact_reset());
  const double c = std::cos(0.25), s = std::sin(0.25);                  // 0.5 rad about x
  set_joint(*world, 0, {1, 2, 3, c, s, 0, 0}, {0.5, 0, 0, 0, 0, 2.0});  // 2 rad/s about local z
  const std::vector<float> ctrl;
  for (int i = 0; i < 500; ++i)
    ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
  double q[7], v[6];
  world->read(Quantity::kJointPos, 0, q);
  world->read(Quantity::kJointVel, 0, v);
  EXPECT_NEAR(q[0], 1.25, 1e-6);
  EXPECT_NEAR(v[5], 2.0, 1e-6);
  EXPECT_NEAR(v[3], 0.0, 1e-6);
  // Orientation: q0 * rotation of 1 rad about local z.
  const double cz = std::cos(0.5), sz = std::sin(0.5);
  const double expected[4] = {c * cz, s * cz, -s * sz, c * sz};
  const double sign = q[3] * expected[0] < 0 ? -1 : 1;
  for (int k = 0; k < 4; ++k)
    EXPECT_NEAR(sign * q[3 + k], expected[k], 1e-4) << k;
}

// The passive cartpole (assets/models/cartpole.xml) from a tilted pole, MuJoCo against Bullet.
TEST(BulletBackend, PassiveCartpoleTracksMuJoCoOverOneSecond) {
  const auto path = std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/cartpole.xml";
  auto mj = load_model(ModelSource::file(path), kMuJoCo);
  auto bt = load_model(ModelSource::file(path), kBullet);
  auto wm = mj->make_world(exact_reset());
  auto wb = bt->make_world(exact_reset());
  for (World* w : {wm.get(), wb.get()}) {
    w->write(Quantity::kJointPos, 1, std::vector<double>{0.3});
    w->write(Quantity::kJointVel, 0, std::vector<double>{0.2});
    w->forward();
  }
  const std::vector<float> ctrl = {0.0f};
  double worst_angle = 0, worst_cart = 0;
  for (int i = 0; i < 100; ++i) {  // 1 s at 10 ms
    ASSERT_EQ(wm->step(ctrl, 1), StepStatus::kOk);
    ASSERT_EQ(wb->step(ctrl, 1), StepStatus::kOk);
    worst_cart = std::max(worst_cart, std::abs(read1(*wm, Quantity::kJointPos, 0) -
                                               read1(*wb, Quantity::kJointPos, 0)));
    worst_angle = std::max(worst_angle, std::abs(read1(*wm, Quantity::kJointPos, 1) -
                                                 read1(*wb, Quantity::kJointPos, 1)));
  }
  // Stated tolerance: 10 micrometres of cart travel and 10 microradians of pole angle over the
  // second (the pole falls past 1 rad). Both engines integrate semi-implicitly with implicit
  // joint damping, so without contacts they agree to rounding.
  EXPECT_LT(worst_cart, 1e-5);
  EXPECT_LT(worst_angle, 1e-5);
  EXPECT_GT(std::abs(read1(*wb, Quantity::kJointPos, 1)), 1.0);  // the pole did fall
  RecordProperty("worst_cart_m", std::to_string(worst_cart));
  RecordProperty("worst_angle_rad", std::to_string(worst_angle));
}

TEST(BulletBackend, BoxRestingOnAPlaneDriftsLessThanAMillimetreInTenSeconds) {
  auto model = load(test::kFallingBoxXml, kBullet);
  auto world = model->make_world(exact_reset());
  set_joint(*world, 0, {0.3, -0.2, 0.1, 1, 0, 0, 0});  // resting on its face
  const std::vector<float> ctrl;
  double start[7];
  world->read(Quantity::kJointPos, 0, start);
  for (int i = 0; i < 2000; ++i)  // 10 s at 5 ms
    ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
  double end[7];
  world->read(Quantity::kJointPos, 0, end);
  const double drift = std::hypot(end[0] - start[0], end[1] - start[1], end[2] - start[2]);
  EXPECT_LT(drift, 1e-3) << end[0] << " " << end[1] << " " << end[2];
  EXPECT_GT(read1(*world, Quantity::kBodyContact, 1), 0);
}

TEST(BulletBackend, FallingBoxLandsAndComesToRest) {
  auto model = load(test::kFallingBoxXml, kBullet);
  auto world = model->make_world(exact_reset());
  const std::vector<float> ctrl;
  for (int i = 0; i < 400; ++i)
    ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
  EXPECT_NEAR(read1(*world, Quantity::kBodyPos, 1, 2), 0.1, 0.003);
  EXPECT_NEAR(read1(*world, Quantity::kJointVel, 0, 2), 0.0, 1e-3);
}

// A heightfield that rises along x (columns) and, more gently, along y (rows): a ball settles on
// it where MuJoCo's does, so rows, columns and heights are laid out alike.
TEST(BulletBackend, BoxSettlesOnAHeightfieldWhereMuJoCosDoes) {
  constexpr const char* xml = R"(
<mujoco model="terrain">
  <option timestep="0.002"/>
  <asset><hfield name="ground" nrow="11" ncol="21" size="1 0.5 0.2 0.1"/></asset>
  <worldbody>
    <geom name="ground" type="hfield" hfield="ground" friction="2"/>
    <body name="ball" pos="0.3 0.2 0.4">
      <freejoint/>
      <geom type="box" size="0.05 0.05 0.05" mass="0.2" friction="2"/>
    </body>
  </worldbody>
</mujoco>)";
  ModelSource source = ModelSource::string(xml, "terrain.xml");
  HeightField hf{.name = "ground", .nrow = 11, .ncol = 21};
  for (int r = 0; r < 11; ++r)
    for (int c = 0; c < 21; ++c)
      hf.elevation.push_back(static_cast<float>(0.6 * c / 20.0 + 0.3 * r / 10.0));
  source.heightfields = {hf};
  double z[2];
  for (BackendKind backend : {kMuJoCo, kBullet}) {
    auto model = load_model(source, backend);
    auto world = model->make_world(exact_reset());
    const std::vector<float> ctrl;
    for (int i = 0; i < 1000; ++i)  // 2 s
      ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
    z[backend == kBullet] = read1(*world, Quantity::kBodyPos, 1, 2);
    EXPECT_LT(std::abs(read1(*world, Quantity::kJointVel, 0, 2)), 0.05);
  }
  // The surface under (0.3, 0.2): 0.2 * (0.6 * 0.65 + 0.3 * 0.7) = 0.12, plus the half size.
  EXPECT_NEAR(z[0], 0.17, 0.01);
  EXPECT_NEAR(z[1], z[0], 0.003) << "mujoco " << z[0] << ", bullet " << z[1];
}

// Friction randomized per world acts on Bullet's contacts in place: a box on a 10-degree incline
// holds with friction 1 and slides with 0.05.
TEST(BulletBackend, RandomizedFrictionActsOnContacts) {
  constexpr const char* xml = R"(
<mujoco model="incline">
  <option timestep="0.002"/>
  <worldbody>
    <geom name="ramp" type="box" size="2 1 0.1" euler="0 10 0"/>
    <body name="box" pos="0 0 0.2" euler="0 10 0">
      <freejoint/>
      <geom name="box" type="box" size="0.05 0.05 0.05" mass="0.5"/>
    </body>
  </worldbody>
</mujoco>)";
  auto model = load(xml, kBullet);
  double travelled[2];
  for (int k = 0; k < 2; ++k) {
    auto world = model->make_world(exact_reset());
    const double friction = k == 0 ? 1.0 : 0.05;
    world->set_param(Param::kGeomFriction, 0, friction);  // the ramp
    world->set_param(Param::kGeomFriction, 1, friction);  // the box (MuJoCo takes the larger)
    const std::vector<float> ctrl;
    for (int i = 0; i < 500; ++i)  // 1 s
      ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
    travelled[k] = read1(*world, Quantity::kBodyPos, 1, 0);
  }
  EXPECT_LT(std::abs(travelled[0]), 0.01) << "friction 1 holds the box";
  EXPECT_GT(travelled[1], 0.3) << "friction 0.05 lets it slide down (+x is downhill)";
}

// A chain that uses every joint type Bullet builds: a body with two hinges, a ball joint, a
// slide, a welded child and a rotated inertial frame. No contacts, no damping: MuJoCo and Bullet
// integrate the same equations of motion.
constexpr const char* kChain = R"(
<mujoco model="chain">
  <option timestep="0.0005"><flag contact="disable"/></option>
  <worldbody>
    <body name="a" pos="0 0 1" euler="10 20 30">
      <joint name="a1" type="hinge" axis="1 0 0" pos="0 0 0.05"/>
      <joint name="a2" type="hinge" axis="0 1 0"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
      <body name="b" pos="0.3 0 0" euler="0 40 0">
        <joint name="b" type="ball" pos="0 0 0"/>
        <geom type="box" pos="0.1 0.02 0" size="0.12 0.04 0.02" euler="0 0 25"/>
        <body name="c" pos="0.2 0 0">
          <joint name="c" type="slide" axis="0.6 0.8 0"/>
          <geom type="sphere" size="0.05" pos="0.02 0 0"/>
          <body name="d" pos="0 0 0.1">
            <geom type="cylinder" size="0.02 0.05"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>)";

TEST(BulletBackend, ArticulatedChainTracksMuJoCo) {
  auto mj = load(kChain, kMuJoCo);
  auto bt = load(kChain, kBullet);
  auto wm = mj->make_world(exact_reset());
  auto wb = bt->make_world(exact_reset());
  const double c = std::cos(0.2), s = std::sin(0.2);
  for (World* w : {wm.get(), wb.get()}) {
    w->write(Quantity::kJointPos, 0, std::vector<double>{0.3});
    w->write(Quantity::kJointPos, 1, std::vector<double>{-0.2});
    w->write(Quantity::kJointPos, 2, std::vector<double>{c, 0, s, 0});
    w->write(Quantity::kJointVel, 2, std::vector<double>{0.5, -1.0, 0.3});
    w->write(Quantity::kJointPos, 3, std::vector<double>{0.05});
    w->write(Quantity::kJointVel, 0, std::vector<double>{1.0});
    w->forward();
  }
  // Right after the state is written, both engines agree on every body's pose (the link frames
  // were built right) and on the observation (state conversions round-trip).
  for (int b = 1; b < mj->info().nbody; ++b)
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(read1(*wm, Quantity::kBodyPos, b, k), read1(*wb, Quantity::kBodyPos, b, k), 1e-9)
          << "body " << b;
  const auto om = observe(*mj, *wm), ob = observe(*bt, *wb);
  for (std::size_t i = 0; i < om.size(); ++i)
    EXPECT_NEAR(om[i], ob[i], 1e-6) << mj->info().observation.names()[i];

  const std::vector<float> ctrl;
  double worst = 0;
  for (int i = 0; i < 600; ++i) {  // 0.3 s
    ASSERT_EQ(wm->step(ctrl, 1), StepStatus::kOk);
    ASSERT_EQ(wb->step(ctrl, 1), StepStatus::kOk);
    for (int b = 1; b < mj->info().nbody; ++b)
      for (int k = 0; k < 3; ++k)
        worst = std::max(worst, std::abs(read1(*wm, Quantity::kBodyPos, b, k) -
                                         read1(*wb, Quantity::kBodyPos, b, k)));
  }
  EXPECT_LT(worst, 1e-6) << "bodies drifted apart by " << worst << " m";
  // It moved: the tip went somewhere.
  EXPECT_GT(std::abs(read1(*wb, Quantity::kBodyPos, 4, 2) - 1.0), 0.05);
}

// A wheel on a damped hinge ("turn") without gravity or contacts, with `bodies` beside it and
// `actuators` driving them.
std::string servo_model(const std::string& bodies, const std::string& actuators) {
  return R"(
<mujoco model="servo">
  <option timestep="0.002" gravity="0 0 0"/>
  <worldbody>
    <body name="wheel">
      <joint name="turn" type="hinge" axis="0 0 1" damping="0.5"/>
      <geom type="cylinder" size="0.2 0.02" mass="1" contype="0" conaffinity="0"/>
    </body>)" +
         bodies + "\n  </worldbody>\n  <actuator>" + actuators + "\n  </actuator>\n</mujoco>";
}

TEST(BulletBackend, ActuatorsDampingAndLimitsActLikeMuJoCos) {
  // A position servo and a motor pushing into a joint limit.
  const std::string xml = servo_model(R"(
    <body name="slider" pos="1 0 0">
      <joint name="slide" type="slide" axis="1 0 0" limited="true" range="-0.1 0.2"/>
      <geom type="box" size="0.05 0.05 0.05" mass="1" contype="0" conaffinity="0"/>
    </body>)",
                                      R"(
    <position name="servo" joint="turn" kp="2" ctrlrange="-2 2" ctrllimited="true"/>
    <motor name="push" joint="slide" gear="5" ctrlrange="-1 1" ctrllimited="true"/>)");
  auto mj = load(xml, kMuJoCo);
  auto bt = load(xml, kBullet);
  auto wm = mj->make_world(exact_reset());
  auto wb = bt->make_world(exact_reset());
  const std::vector<float> ctrl = {1.0f, 3.0f};  // the push is clamped to 1
  for (int i = 0; i < 2500; ++i) {               // 5 s
    ASSERT_EQ(wm->step(ctrl, 1), StepStatus::kOk);
    ASSERT_EQ(wb->step(ctrl, 1), StepStatus::kOk);
  }
  EXPECT_NEAR(read1(*wb, Quantity::kJointPos, 0), 1.0, 0.01);  // the servo settled on its target
  EXPECT_NEAR(read1(*wb, Quantity::kJointPos, 0), read1(*wm, Quantity::kJointPos, 0), 0.01);
  EXPECT_NEAR(read1(*wb, Quantity::kJointPos, 1), 0.2, 0.005);  // held by the upper limit
  EXPECT_DOUBLE_EQ(read1(*wb, Quantity::kActuatorForce, 1), 1.0);
}

// actuator_gain is strength: a servo at half strength still settles on its target (its stiffness
// scales with its gain, its set point does not move, as it would if the gear were scaled), but
// pushes half as hard on the way. Both backends read the same parameters.
TEST(BulletBackend, AWeakerServoPushesLessAndKeepsItsSetPointOnBothBackends) {
  const std::string xml = servo_model("", R"(
    <position name="servo" joint="turn" kp="2" gear="1.5" ctrlrange="-2 2" ctrllimited="true"/>)");
  for (const BackendKind backend : {kMuJoCo, kBullet}) {
    SCOPED_TRACE(backend == kMuJoCo ? "mujoco" : "bullet");
    auto model = load(xml, backend);
    auto nominal = model->make_world(exact_reset());
    auto weak = model->make_world(exact_reset());
    const double gain = model->param_default(Param::kActuatorGain, 0);
    EXPECT_DOUBLE_EQ(gain, 2.0);  // the servo's kp, not its gear
    weak->set_param(Param::kActuatorGain, 0, 0.5 * gain);
    EXPECT_DOUBLE_EQ(weak->param(Param::kActuatorGain, 0), 1.0);
    const std::vector<float> ctrl = {0.6f};  // a target of 0.6 / gear = 0.4 rad
    ASSERT_EQ(nominal->step(ctrl, 1), StepStatus::kOk);
    ASSERT_EQ(weak->step(ctrl, 1), StepStatus::kOk);
    EXPECT_NEAR(read1(*weak, Quantity::kActuatorForce, 0),
                0.5 * read1(*nominal, Quantity::kActuatorForce, 0), 1e-3);
    for (int i = 0; i < 100; ++i) {  // 0.2 s in: the weak one lags
      ASSERT_EQ(nominal->step(ctrl, 1), StepStatus::kOk);
      ASSERT_EQ(weak->step(ctrl, 1), StepStatus::kOk);
    }
    EXPECT_LT(read1(*weak, Quantity::kJointPos, 0), 0.9 * read1(*nominal, Quantity::kJointPos, 0));
    for (int i = 0; i < 7400; ++i) {  // 15 s in: both hold the same target
      ASSERT_EQ(nominal->step(ctrl, 1), StepStatus::kOk);
      ASSERT_EQ(weak->step(ctrl, 1), StepStatus::kOk);
    }
    EXPECT_NEAR(read1(*nominal, Quantity::kJointPos, 0), 0.4, 0.005);
    EXPECT_NEAR(read1(*weak, Quantity::kJointPos, 0), 0.4, 0.005);
  }
}

// Armature and damping enter MuJoCo's joint-space integration, not any rigid body's inertia: the
// quadruped's stiff servos (kp 80) on light legs with armature 0.01 and damping 4 must follow
// MuJoCo exactly while contacts are off, and must not blow up with them.
TEST(BulletBackend, ArmatureAndDampingFollowMuJoCosImplicitIntegration) {
  const auto path = std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/quadruped.xml";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string xml = text.str();
  const std::string flag = "<flag refsafe=\"disable\"/>";
  ASSERT_NE(xml.find(flag), std::string::npos);
  xml.replace(xml.find(flag), flag.size(), "<flag refsafe=\"disable\" contact=\"disable\"/>");
  const std::string name = path.string();  // so that relative asset paths still resolve
  auto mj = load_model(ModelSource::string(xml, name), kMuJoCo);
  auto bt = load_model(ModelSource::string(xml, name), kBullet);
  auto wm = mj->make_world(exact_reset());
  auto wb = bt->make_world(exact_reset());
  const std::vector<float> ctrl(8, 0.0f);  // every servo pulls its leg straight
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(wm->step(ctrl, 1), StepStatus::kOk);
    ASSERT_EQ(wb->step(ctrl, 1), StepStatus::kOk);
  }
  const auto om = observe(*mj, *wm), ob = observe(*bt, *wb);
  for (std::size_t i = 0; i < om.size(); ++i)
    EXPECT_NEAR(om[i], ob[i], 1e-3 * (1 + std::abs(om[i]))) << mj->info().observation.names()[i];
}

TEST(BulletBackend, BuiltInModelsStepWithoutDiverging) {
  const std::filesystem::path dir = std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models";
  for (const char* name : {"humanoid.xml", "quadruped.xml", "reacher.xml", "push.xml"}) {
    SCOPED_TRACE(name);
    auto model = load_model(ModelSource::file(dir / name), kBullet);
    auto world = model->make_world();
    Rng rng(1, 0, 0);
    world->reset(rng);
    const std::vector<float> ctrl(static_cast<std::size_t>(model->info().nu), 0.0f);
    for (int i = 0; i < 100; ++i)
      ASSERT_EQ(world->step(ctrl, 2), StepStatus::kOk) << "step " << i;
    for (float x : observe(*model, *world))
      ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(BulletBackend, SensorsReadBulletsStateThroughMuJoCosKinematics) {
  // The cartpole's framepos sensor at the pole tip follows the pole on both engines.
  const auto path = std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/cartpole.xml";
  auto bt = load_model(ModelSource::file(path), kBullet);
  auto wb = bt->make_world(exact_reset());
  set_joint(*wb, 0, {0.5});
  set_joint(*wb, 1, {std::numbers::pi / 2});
  const auto obs = observe(*bt, *wb);
  // qpos(2) qvel(2) sensor: tip at cart x + 1 m along the pole's axis (turned 90 degrees about y).
  EXPECT_NEAR(obs[4], 0.5 + 1.0, 1e-5);
  EXPECT_NEAR(obs[6], 1.0, 1e-5);
}

TEST(BulletBackend, ResetMakesAnEpisodeDependOnItsStartAlone) {
  auto model = load(test::kFallingBoxXml, kBullet);
  auto fresh = model->make_world();
  auto used = model->make_world();
  const std::vector<float> ctrl;
  Rng warmup(3, 0, 0);
  used->reset(warmup);
  for (int i = 0; i < 150; ++i)
    used->step(ctrl, 1);  // contacts and warm-start impulses from an earlier episode
  Rng a(7, 0, 0), b(7, 0, 0);
  fresh->reset(a);
  used->reset(b);
  for (int i = 0; i < 300; ++i) {
    fresh->step(ctrl, 1);
    used->step(ctrl, 1);
  }
  EXPECT_EQ(observe(*model, *fresh), observe(*model, *used));  // bit for bit
}

TEST(BulletBackend, RandomizedMassChangesTheDynamicsAndRebuilds) {
  const auto path = std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/cartpole.xml";
  auto model = load_model(ModelSource::file(path), kBullet);
  auto plain = model->make_world(exact_reset());
  auto heavy = model->make_world(exact_reset());
  heavy->set_param(Param::kBodyMass, 1, 5.0);  // the cart, 1 kg -> 5 kg
  EXPECT_TRUE(heavy->has_own_parameters());
  EXPECT_DOUBLE_EQ(heavy->param(Param::kBodyMass, 1), 5.0);
  const std::vector<float> ctrl = {1.0f};
  for (int i = 0; i < 50; ++i) {
    plain->step(ctrl, 1);
    heavy->step(ctrl, 1);
  }
  const double x_plain = read1(*plain, Quantity::kJointPos, 0);
  const double x_heavy = read1(*heavy, Quantity::kJointPos, 0);
  EXPECT_GT(x_plain, 2.5 * x_heavy);  // about 4.5x the mass (cart and pole): much less travel
  EXPECT_GT(x_heavy, 0.0);
}

// Damping randomized onto a joint that had none still acts (it joins the implicit dofs), as on
// MuJoCo.
TEST(BulletBackend, RandomizedDampingOnAnUndampedJointActsLikeMuJoCos) {
  double out[2];
  for (BackendKind backend : {kMuJoCo, kBullet}) {
    auto model = load(kPendulum, backend);
    auto world = model->make_world(exact_reset());
    world->set_param(Param::kJointDamping, 0, 5.0);
    set_joint(*world, 0, {0.5});
    const std::vector<float> ctrl;
    for (int i = 0; i < 300; ++i)
      ASSERT_EQ(world->step(ctrl, 1), StepStatus::kOk);
    out[backend == kBullet] = read1(*world, Quantity::kJointPos, 0);
  }
  // Heavily damped, the pendulum creeps down instead of swinging through zero.
  EXPECT_GT(out[0], 0.1);
  EXPECT_NEAR(out[1], out[0], 1e-6);
}

TEST(BulletBackend, DivergenceIsReportedNotThrown) {
  auto model = load(test::kExplodingXml, kBullet);
  auto world = model->make_world();
  const std::vector<float> ctrl = {1e9f};
  StepStatus status = StepStatus::kOk;
  for (int i = 0; i < 200 && status == StepStatus::kOk; ++i)
    status = world->step(ctrl, 1);
  EXPECT_EQ(status, StepStatus::kDiverged);
}

Error load_error(const std::string& xml, const char* name) {
  try {
    load(xml, kBullet, name);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading did not throw";
  return Error("no error");
}

TEST(BulletBackend, RefusesWhatItCannotReproduceNamingTheElement) {
  const Error tendon = load_error(R"(<mujoco>
  <worldbody>
    <body name="a"><joint name="j1" type="hinge"/><geom size="0.1"/>
      <body name="b"><joint name="j2" type="hinge"/><geom size="0.1"/></body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="coupling"><joint joint="j1" coef="1"/><joint joint="j2" coef="-1"/></fixed>
  </tendon>
</mujoco>)",
                                  "tendon.xml");
  EXPECT_EQ(tendon.where().file, "tendon.xml");
  EXPECT_EQ(tendon.where().line, 8);
  EXPECT_EQ(tendon.where().field, "tendon 'coupling'");
  EXPECT_NE(std::string(tendon.what()).find("--backend mujoco"), std::string::npos);

  const Error weld = load_error(R"(<mujoco>
  <worldbody>
    <body name="a"><freejoint/><geom size="0.1"/></body>
  </worldbody>
  <equality><weld name="pin" body1="a"/></equality>
</mujoco>)",
                                "weld.xml");
  EXPECT_EQ(weld.where().field, "equality 'pin'");
  EXPECT_EQ(weld.where().line, 5);

  const Error muscle = load_error(R"(<mujoco>
  <worldbody>
    <body name="a"><joint name="j" type="hinge"/><geom size="0.1"/></body>
  </worldbody>
  <actuator><general name="filtered" joint="j" dyntype="filter" dynprm="0.1"/></actuator>
</mujoco>)",
                                  "act.xml");
  EXPECT_EQ(muscle.where().field, "actuator 'filtered'");
}

}  // namespace
}  // namespace simlab::engine::physics
