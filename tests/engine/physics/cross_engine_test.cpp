// MuJoCo and Bullet on the same models with contacts: where a standing or falling robot comes to
// rest with zero controls (physics::settle, what `simlab scenes check --backend bullet` reports).
// Tolerances are the README's ("Engines that agree"); a regression in either backend's contacts,
// springs, limits or geometry offsets moves these figures.
#include <cmath>
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

TEST(CrossEngine, TheQuadrupedStandsAtTheSameHeightWithinOneCentimetre) {
  // 16-DoF legged robot on a free joint: springs, limits, damping, armature, four feet.
  const auto r = rest_of(ModelSource::file(resolve_model("quadruped")), 3.0);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.01)
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
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.03);
  EXPECT_GE(r.mujoco.settle_seconds, 0);
  EXPECT_GE(r.bullet.settle_seconds, 0);
}

// A spring-loaded foot under a 5 kg load on a frictionless floor, without armature: the
// engines agree on the load's height to 3 mm (measured: 1.9 mm, Bullet lower). (With armature on the hinge they do not: see the README's "Engines that
// agree" and the next test.)
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

TEST(CrossEngine, ASpringLoadedFootWithoutArmatureRestsAlike) {
  const auto r = rest_of(ModelSource::string(foot(""), "foot.xml"), 4.0);
  EXPECT_NEAR(r.bullet.height, r.mujoco.height, 0.003);
  EXPECT_NEAR(r.bullet.pitch_deg, r.mujoco.pitch_deg, 0.5);  // the load does not turn
}

// The known difference, measured: Bullet has no joint armature, and simlab's implicit emulation
// (engine/physics/bullet) resists the acceleration a pressed joint would have without the floor,
// so most of its spring is cancelled and the foot folds. If this starts to pass within a
// centimetre, the emulation was fixed: tighten the test and the README.
TEST(CrossEngine, ArmatureOnAPressedSpringJointIsTheKnownGap) {
  const auto r = rest_of(ModelSource::string(foot(R"(armature="0.1")"), "foot.xml"), 4.0);
  EXPECT_GT(r.mujoco.height - r.bullet.height, 0.05)
      << "MuJoCo " << r.mujoco.height << " m, Bullet " << r.bullet.height << " m";
}

}  // namespace
}  // namespace simlab::engine::physics
