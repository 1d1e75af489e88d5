// Bullet3 behind engine/physics/backend.h, built from the same compiled model as MuJoCo.
//
// load() compiles the MJCF/URDF with MuJoCo's compiler, then builds from the mjModel one Bullet
// Featherstone multibody per kinematic tree (btMultiBodyDynamicsWorld): bodies and inertias; hinge,
// slide, ball and free joints with limits, damping, armature and friction loss; plane, box, sphere,
// capsule, cylinder, ellipsoid and mesh (convex hull) geoms and heightfields; motor, position and
// velocity actuators (joint transmission, affine gain and bias) with gear, control and force
// ranges. Whatever the model holds that Bullet cannot reproduce (tendons, equality constraints,
// muscles, ...) is an Error naming the element, never silently different physics.
//
// Bullet integrates; MuJoCo reads out. Each world keeps an mjData mirror that receives Bullet's
// joint state after every step and runs MuJoCo's kinematics and sensors on it, so observations,
// terms, cameras and randomization see the same layout, names and frames on both backends. Only
// Bullet's own results are MuJoCo-independent: contacts (counts and touch sensors) and the
// accelerations behind accelerometers come from Bullet's step.
//
// Only engine/physics sees this header; it holds no Bullet type.
#pragma once

#include <memory>
#include <string>

#include "engine/physics/backend.h"

namespace simlab::engine::physics::mujoco {
class MjWorld;
}

namespace simlab::engine::physics::bullet {

// Compile `source` and prepare its Bullet build. Errors name the file and the element.
std::shared_ptr<const Model> load(const ModelSource& source, const ArenaOptions& arena = {});

// The MuJoCo mirror of a Bullet world (its parameters and read-out state), or null when `world`
// is not a Bullet world.
const mujoco::MjWorld* mirror_of(const World& world);

}  // namespace simlab::engine::physics::bullet
