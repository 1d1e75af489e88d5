#include "engine/physics/mujoco/mujoco_backend.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "engine/core/error.h"
#include "tests/support/models.h"

namespace simlab::engine::physics {
namespace {

using mujoco::MjWorld;

std::shared_ptr<const Model> load_string(const char* xml, const char* name = "<test>.xml") {
  return load_model(ModelSource::string(xml, name));
}

// Every failing load must throw simlab::Error whose text names the place; returns it.
Error load_error(const ModelSource& source) {
  try {
    load_model(source);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading did not throw";
  return Error("no error");
}

TEST(MuJoCoModel, DescribesObservationAndActionSpaces) {
  auto model = load_string(test::kPendulumXml);
  const auto& info = model->info();
  EXPECT_EQ(info.nq, 2);
  EXPECT_EQ(info.nv, 2);
  EXPECT_EQ(info.nu, 1);
  EXPECT_EQ(info.nsensordata, 3);
  ASSERT_EQ(info.observation.dim(), 7);
  EXPECT_EQ(info.observation.names()[0], "qpos/slider");
  EXPECT_EQ(info.observation.names()[3], "qvel/hinge");
  EXPECT_EQ(info.observation.names()[4], "sensor/tip.0");
  ASSERT_EQ(info.action.dim(), 1);
  EXPECT_EQ(info.action.names()[0], "ctrl/push");
  EXPECT_EQ(info.action.low()[0], -1.f);
  EXPECT_EQ(info.action.high()[0], 1.f);
}

TEST(MuJoCoModel, LoadsUrdf) {
  auto model = load_model(ModelSource::string(test::kArmUrdf, "arm.urdf"));
  EXPECT_EQ(model->info().nq, 2);
  EXPECT_EQ(model->info().observation.names()[1], "qpos/elbow");
}

TEST(MuJoCoModel, LoadsBuiltInModelsFromFiles) {
  const std::filesystem::path dir = SIMLAB_TEST_ASSET_DIR;
  auto humanoid = load_model(ModelSource::file(dir / "models/humanoid.xml"));
  EXPECT_GE(humanoid->info().nv, 20);  // the benchmark's "humanoid-class" model
  EXPECT_EQ(humanoid->info().nu, 21);
  auto cartpole = load_model(ModelSource::file(dir / "models/cartpole.xml"));
  EXPECT_EQ(cartpole->info().nq, 2);
}

TEST(MuJoCoModel, MissingFileNamesTheFile) {
  const Error e = load_error(ModelSource::file("/no/such/robot.xml"));
  EXPECT_EQ(e.where().file, "/no/such/robot.xml");
  EXPECT_NE(std::string(e.what()).find("no such model file"), std::string::npos) << e.what();
}

TEST(MuJoCoModel, MalformedXmlNamesFileLineAndElement) {
  const Error e =
      load_error(ModelSource::string("<mujoco>\n<worldbody>\n<body>\n</mujoco>\n", "bad.xml"));
  EXPECT_EQ(e.where().file, "bad.xml");
  EXPECT_EQ(e.where().line, 3);
  EXPECT_EQ(e.where().field, "element <body>");
  EXPECT_NE(
      std::string(e.what()).find("bad.xml:3: element <body>: XML parse error: mismatched element"),
      std::string::npos)
      << e.what();
}

// Values MuJoCo's compiler accepts but no simulation survives are refused at load, by name.
TEST(MuJoCoModel, NonFiniteOrNonPositiveValuesAreRefusedByName) {
  auto model = [](const std::string& option, const std::string& body) {
    return ModelSource::string("<mujoco>\n <option " + option +
                                   "/>\n <worldbody>\n  <body name=\"arm\">\n   <joint "
                                   "type=\"hinge\"/>\n   <geom size=\"0.1\" " +
                                   body + "/>\n  </body>\n </worldbody>\n</mujoco>\n",
                               "values.xml");
  };
  Error e = load_error(model("gravity=\"0 0 nan\"", ""));
  EXPECT_EQ(e.where().field, "option.gravity") << e.what();
  e = load_error(model("timestep=\"-0.01\"", ""));
  EXPECT_EQ(e.where().field, "option.timestep") << e.what();
  e = load_error(model("", "mass=\"inf\""));
  EXPECT_EQ(e.where().field, "body mass of 'arm'") << e.what();
  EXPECT_NO_THROW(load_model(model("gravity=\"0 0 -9.81\"", "")));
}

// A mesh whose convex hull takes MuJoCo minutes to compute is announced before compiling starts.
TEST(MuJoCoModel, AHugeMeshIsAnnouncedBeforeCompiling) {
  const auto dir = std::filesystem::temp_directory_path() / "simlab_big_mesh";
  std::filesystem::create_directories(dir);
  const std::uint32_t faces = 100001;
  {
    std::ofstream stl(dir / "strip.stl", std::ios::binary);
    const char header[80] = {};
    stl.write(header, 80);
    stl.write(reinterpret_cast<const char*>(&faces), 4);
    for (std::uint32_t i = 0; i < faces; ++i) {
      const float x = 1e-4f * static_cast<float>(i), z = 1e-3f * static_cast<float>(i % 7);
      const float v[12] = {0, 0, 1, x, 0, 0, x + 1e-4f, 0, 0, x, 1e-4f, z};
      stl.write(reinterpret_cast<const char*>(v), sizeof v);
      stl.write(header, 2);
    }
  }
  std::ofstream(dir / "m.xml") << "<mujoco><asset><mesh name=\"m\" file=\"strip.stl\"/></asset>"
                                  "<worldbody><body><freejoint/><geom type=\"mesh\" mesh=\"m\"/>"
                                  "</body></worldbody></mujoco>";
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  load_model(ModelSource::file(dir / "m.xml"));
  spdlog::set_default_logger(previous);
  EXPECT_NE(log.str().find("strip.stl has about 100001 faces"), std::string::npos) << log.str();
  std::filesystem::remove_all(dir);
}

TEST(MuJoCoModel, UnknownElementNamesLineAndElement) {
  const Error e = load_error(ModelSource::string(
      "<mujoco>\n <worldbody>\n  <bogus/>\n </worldbody>\n</mujoco>\n", "unknown.xml"));
  EXPECT_EQ(e.where().line, 3);
  EXPECT_EQ(e.where().field, "element <bogus>");
  EXPECT_NE(std::string(e.what()).find("unrecognized element"), std::string::npos) << e.what();
}

TEST(MuJoCoModel, BadAttributeOnDiskNamesFileAndLine) {
  const auto path = std::filesystem::temp_directory_path() / "simlab_bad_attr.xml";
  std::ofstream(path) << "<mujoco>\n <worldbody>\n  <body>\n   <geom type=\"box\" size=\"abc\"/>\n"
                         "  </body>\n </worldbody>\n</mujoco>\n";
  const Error e = load_error(ModelSource::file(path));
  EXPECT_EQ(e.where().file, path.string());
  EXPECT_EQ(e.where().line, 4);
  EXPECT_EQ(e.where().field, "element <geom>");
  std::filesystem::remove(path);
}

TEST(MuJoCoWorld, SharesTheModelUntilItOwnsParameters) {
  auto model = load_string(test::kPendulumXml);
  auto a = model->make_world();
  auto b = model->make_world();
  auto& wa = dynamic_cast<MjWorld&>(*a);
  auto& wb = dynamic_cast<MjWorld&>(*b);
  EXPECT_EQ(wa.model(), wb.model());  // one compiled model, no per-env copy
  EXPECT_FALSE(wa.has_own_parameters());
  const auto shared_bytes = wa.bytes();

  mjModel* own = wb.own_parameters();
  EXPECT_TRUE(wb.has_own_parameters());
  EXPECT_NE(wb.model(), wa.model());
  EXPECT_EQ(wb.own_parameters(), own);  // copied once
  EXPECT_GT(wb.bytes(), shared_bytes);

  // A weaker motor in b only: the same command moves it less, and a is unaffected.
  own->actuator_gear[0] *= 0.1;
  const float push[] = {1.0f};
  for (int i = 0; i < 20; ++i) {
    a->step(push, 1);
    b->step(push, 1);
  }
  EXPECT_GT(std::abs(wa.data()->qpos[0] - wb.data()->qpos[0]), 0.05);
  auto c = model->make_world();
  for (int i = 0; i < 20; ++i)
    c->step(push, 1);
  EXPECT_EQ(dynamic_cast<MjWorld&>(*c).data()->qpos[0], wa.data()->qpos[0]);
}

TEST(MuJoCoWorld, ResetsFromKeyframePlusBoundedReproducibleNoise) {
  auto model = load_string(test::kPendulumXml);
  auto exact = model->make_world({.keyframe = 0, .qpos_noise = 0, .qvel_noise = 0});
  Rng rng0(1, 0, 0);
  exact->reset(rng0);
  std::vector<float> obs(7);
  exact->observe(obs);
  EXPECT_FLOAT_EQ(obs[0], 0.5f);
  EXPECT_FLOAT_EQ(obs[1], 0.3f);
  EXPECT_FLOAT_EQ(obs[2], 0.0f);

  auto noisy = model->make_world({.keyframe = 0, .qpos_noise = 0.05, .qvel_noise = 0.1});
  std::vector<float> first(7), again(7), other(7);
  Rng r1(9, 2, 4);
  noisy->reset(r1);
  noisy->observe(first);
  Rng r2(9, 2, 4);
  noisy->reset(r2);
  noisy->observe(again);
  Rng r3(9, 2, 5);
  noisy->reset(r3);
  noisy->observe(other);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  EXPECT_NEAR(first[0], 0.5f, 0.05f);
  EXPECT_NEAR(first[1], 0.3f, 0.05f);
  EXPECT_NE(first[0], 0.5f);
  EXPECT_NEAR(first[2], 0.0f, 0.1f);
  EXPECT_NE(first[2], 0.0f);
}

TEST(MuJoCoWorld, ControlAboveMuJoCosLimitIsReportedNotZeroedSilently) {
  auto model = load_string(test::kExplodingXml);
  auto world = model->make_world();
  const float absurd[] = {1e12f};  // MuJoCo would zero it and go on
  EXPECT_EQ(world->step(absurd, 1), StepStatus::kDiverged);
}

TEST(MuJoCoWorld, RejectsAMissingKeyframe) {
  auto model = load_string(test::kPendulumXml);
  EXPECT_THROW(model->make_world({.keyframe = 3}), Error);
}

TEST(MuJoCoWorld, NoiseKeepsFreeJointQuaternionsUnit) {
  auto model = load_string(test::kFallingBoxXml);
  auto world = model->make_world({.qpos_noise = 0.3, .qvel_noise = 0});
  Rng rng(3, 0, 0);
  world->reset(rng);
  std::vector<float> obs(model->info().observation.dim());
  world->observe(obs);
  const double norm =
      std::sqrt(obs[3] * obs[3] + obs[4] * obs[4] + obs[5] * obs[5] + obs[6] * obs[6]);
  EXPECT_NEAR(norm, 1.0, 1e-6);
  EXPECT_NE(obs[3], 1.0f);  // it was rotated
}

TEST(MuJoCoWorld, FrameSkipAdvancesThatManyPhysicsSteps) {
  auto model = load_string(test::kPendulumXml);
  auto world = model->make_world();
  const float zero[] = {0.0f};
  EXPECT_EQ(world->step(zero, 4), StepStatus::kOk);
  EXPECT_NEAR(world->time(), 4 * model->info().timestep, 1e-12);
}

TEST(MuJoCoWorld, SensorsDescribeTheStateAfterTheStep) {
  auto model = load_string(test::kPendulumXml);
  auto world = model->make_world({.keyframe = 0, .qpos_noise = 0, .qvel_noise = 0});
  const float push[] = {0.7f};
  std::vector<float> obs(7);
  for (int i = 0; i < 10; ++i)
    world->step(push, 3);
  world->observe(obs);
  // The tip sits 1 m up the pole: x = slider + sin(hinge), z = cos(hinge).
  EXPECT_NEAR(obs[4], obs[0] + std::sin(obs[1]), 1e-5);
  EXPECT_NEAR(obs[6], std::cos(obs[1]), 1e-5);
}

TEST(MuJoCoWorld, ExplosionIsReportedNotThrown) {
  auto model = load_string(test::kExplodingXml);
  auto world = model->make_world();
  const float huge[] = {1e9f};  // legal ctrl (< mjMAXVAL); qacc ~ 1e18 is not
  StepStatus status = StepStatus::kOk;
  EXPECT_NO_THROW(status = world->step(huge, 5));
  EXPECT_EQ(status, StepStatus::kDiverged);
  // After a reset the world steps normally again.
  Rng rng(0, 0, 1);
  world->reset(rng);
  const float calm[] = {0.0f};
  EXPECT_EQ(world->step(calm, 5), StepStatus::kOk);
}

}  // namespace
}  // namespace simlab::engine::physics
