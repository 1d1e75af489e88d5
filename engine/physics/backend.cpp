#include "engine/physics/backend.h"

#include "engine/core/error.h"
#include "engine/physics/mujoco/mujoco_backend.h"

namespace simlab::engine::physics {

std::shared_ptr<const Model> load_model(const ModelSource& source, BackendKind backend) {
  switch (backend) {
    case BackendKind::kMuJoCo:
      return mujoco::load(source);
    case BackendKind::kBullet:
      break;
  }
  throw Error(SourceLocation{.field = "backend"},
              std::string("the ") + backend_name(backend) + " backend is not available yet");
}

void write_mjcf(const ModelSource& source, const World& world, const std::filesystem::path& out) {
  const auto* mj = dynamic_cast<const mujoco::MjWorld*>(&world);
  if (!mj)
    throw Error(SourceLocation{.file = out.string()}, "only MuJoCo worlds can be written as MJCF");
  mujoco::save_mjcf(source, *mj, out);
}

Element param_element(Param param) {
  switch (param) {
    case Param::kBodyMass:
    case Param::kBodyComX:
    case Param::kBodyComY:
    case Param::kBodyComZ:
      return Element::kBody;
    case Param::kGeomFriction:
    case Param::kGeomSoftness:
    case Param::kGeomR:
    case Param::kGeomG:
    case Param::kGeomB:
      return Element::kGeom;
    case Param::kJointDamping:
    case Param::kJointArmature:
    case Param::kJointFrictionLoss:
      return Element::kJoint;
    case Param::kActuatorGain:
    case Param::kActuatorForceLimit:
      return Element::kActuator;
    case Param::kGravityZ:
      return Element::kWorld;
    case Param::kLightPosX:
    case Param::kLightPosY:
    case Param::kLightPosZ:
    case Param::kLightDiffuse:
      return Element::kLight;
    case Param::kCameraPosX:
    case Param::kCameraPosY:
    case Param::kCameraPosZ:
      return Element::kCamera;
  }
  return Element::kWorld;
}

const char* backend_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kMuJoCo:
      return "mujoco";
    case BackendKind::kBullet:
      return "bullet";
  }
  return "unknown";
}

}  // namespace simlab::engine::physics
