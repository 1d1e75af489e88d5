// MuJoCo and Bullet on the same models with contacts: where a standing or falling robot comes to
// rest with zero controls (physics::settle, what `simlab scenes check --backend bullet` reports).
// Tolerances are the README's ("Engines that agree"); a regression in either backend's contacts,
// springs, armature, damping, limits or geometry offsets moves these figures.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "engine/core/assets.h"
#include "engine/physics/backend.h"
#include "tests/support/models.h"

namespace simlab::engine::physics {
namespace {

struct Pair {
  RestState mujoco, bullet;
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Pair rest_of(const ModelSource& source, double seconds, ResetOptions reset = {}) {
  const auto a = load_model(source, BackendKind::kMuJoCo);
  const auto b = load_model(source, BackendKind::kBullet);
  return {settle(*a, reset, seconds), settle(*b, reset, seconds)};
}

TEST(CrossEngine, AFallingBoxRestsAtTheSameHeight) {
  const auto r = rest_of(ModelSource::string(test::kFallingBoxXml, "box.xml"), 2.0);
  EXPECT_NEAR(r.mujoco.height, 0.1, 0.002);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.002);
  EXPECT_EQ(r.mujoco.contacts, 4);  // MuJoCo: the four corners
  EXPECT_GE(r.bullet.contacts, 1);  // Bullet's manifold keeps fewer points on a resting face
  EXPECT_GE(r.mujoco.settle_seconds, 0);
  EXPECT_GE(r.bullet.settle_seconds, 0);
  EXPECT_EQ(r.bullet.diverged_steps, 0);
}

TEST(CrossEngine, TheQuadrupedStandsAtTheSameHeight) {
  // 16-DoF legged robot on a free joint: servos, limits, damping, armature, four feet (measured
  // 0.2 mm apart).
  const auto r = rest_of(ModelSource::file(resolve_model("quadruped")), 3.0);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.003)
      << r.mujoco.height << " against " << r.bullet.height;
  EXPECT_LT(r.mujoco.pitch_deg, 2.0);
  EXPECT_LT(r.bullet.pitch_deg, 2.0);
  EXPECT_GE(r.mujoco.contacts, 4);
  EXPECT_GE(r.bullet.contacts, 4);
  EXPECT_EQ(r.bullet.diverged_steps, 0);
}

TEST(CrossEngine, TheHumanoidFallsAndLiesDownOnBoth) {
  // No controls: it collapses; both engines end with the torso on the floor.
  const auto r = rest_of(ModelSource::file(resolve_model("humanoid")), 3.0);
  EXPECT_GT(r.mujoco.pitch_deg, 60.0);
  EXPECT_GT(r.bullet.pitch_deg, 60.0);
  EXPECT_LT(r.mujoco.height, 0.2);
  EXPECT_LT(r.bullet.height, 0.2);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.02);  // measured 11.7 mm
  EXPECT_GE(r.mujoco.settle_seconds, 0);
  EXPECT_GE(r.bullet.settle_seconds, 0);
}

// A spring-loaded foot under a 5 kg load on a frictionless floor: the load's height to 3 mm
// (measured 0.2 mm), without armature and with a large one. Bullet has no joint armature; simlab
// adds it (and implicit damping) to Bullet's joint-space dynamics, and to constraint impulses
// through a soft row per dof. Without that row, a joint pressed on the floor got -armature times
// the acceleration it would have had without the floor, which cancelled most of its spring: this
// foot folded to 1.43 rad against MuJoCo's 0.02, and the cheetah stood 4.5 cm lower.
constexpr const char* kFootXml = R"(<mujoco model="foot">
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 .1" condim="1"/>
    <body name="load" pos="0 0 0.2">
      <joint name="z" type="slide" axis="0 0 1" damping="5"/>
      <geom type="sphere" size="0.05" mass="5" contype="0" conaffinity="0"/>
      <body name="foot">
        <joint name="ankle" type="hinge" axis="0 1 0" stiffness="60" damping="2" ARMATURE/>
        <geom type="capsule" fromto="0 0 0 -0.02 0 -0.14" size="0.04" condim="1"/>
      </body>
    </body>
  </worldbody>
</mujoco>)";

std::string foot(const std::string& armature) {
  std::string xml = kFootXml;
  return xml.replace(xml.find("ARMATURE"), 8, armature);
}

TEST(CrossEngine, ASpringLoadedFootRestsAlikeWithAndWithoutArmature) {
  for (const std::string armature : {"", R"(armature="0.1")"}) {
    SCOPED_TRACE(armature);
    const auto r = rest_of(ModelSource::string(foot(armature), "foot.xml"), 4.0);
    EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.003);
    EXPECT_NEAR(r.bullet.pitch_deg, r.mujoco.pitch_deg, 0.5);  // the load does not turn
  }
}

// The planar cheetah: springs, damping and armature 0.1 on six leg joints, two feet on the floor
// (measured 0.3 mm apart). Without springs its legs fold onto their joint limits, which must hold
// on Bullet too with the armature rows acting on the same dofs (measured 0.4 mm).
TEST(CrossEngine, TheCheetahStandsAtTheSameHeightWithAndWithoutSprings) {
  const auto path = resolve_model("cheetah");
  std::string xml = read_text(path);
  const auto r = rest_of(ModelSource::file(path), 3.0);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.005)
      << r.mujoco.height << " against " << r.bullet.height;
  EXPECT_EQ(r.bullet.contacts, r.mujoco.contacts);
  for (auto at = xml.find(" stiffness=\""); at != std::string::npos;
       at = xml.find(" stiffness=\"", at))
    xml.erase(at, xml.find('"', at + 12) + 1 - at);
  ASSERT_EQ(xml.find("stiffness"), std::string::npos);
  const auto limp = rest_of(ModelSource::string(xml, path.string()), 3.0);
  EXPECT_LT(limp.mujoco.height, r.mujoco.height - 0.1);  // it did fold
  EXPECT_NEAR(limp.bullet.height, limp.mujoco.height, 0.01)
      << limp.mujoco.height << " against " << limp.bullet.height;
}

// Stiffer feet than MuJoCo's default contact (time constant 0.005 s instead of 0.02, which the
// quadruped's model allows: it disables MuJoCo's refsafe floor of 2 x timestep). MuJoCo stands
// higher on them (less penetration); Bullet keeps its own rigid contact, which is already stiffer
// than MuJoCo's at any time constant it can step: a spring-damper there (what softer contacts
// get) let the robot sink 1.35 mm lower.
TEST(CrossEngine, StifferFeetStandHigherOnMuJoCoAndKeepBulletsRigidContact) {
  const auto path = resolve_model("quadruped");
  std::string xml = read_text(path);
  const std::string foot = R"(<geom type="sphere" pos="0 0 -0.16" size="0.03")";
  const auto at = xml.find(foot);
  ASSERT_NE(at, std::string::npos);
  xml.insert(at + foot.size(), R"( solref="0.005 1")");
  const auto nominal = rest_of(ModelSource::file(path), 3.0);
  const auto stiff = rest_of(ModelSource::string(xml, path.string()), 3.0);
  // Measured 0.26 mm higher; 0.17 mm at 0.01 s, what MuJoCo's refsafe would have made of it.
  EXPECT_GT(stiff.mujoco.height, nominal.mujoco.height + 0.0002)
      << nominal.mujoco.height << " against " << stiff.mujoco.height;
  EXPECT_EQ(stiff.bullet.height, nominal.bullet.height);  // the same contact, the same bits
  EXPECT_EQ(stiff.bullet.diverged_steps, 0);
}

}  // namespace
}  // namespace simlab::engine::physics
