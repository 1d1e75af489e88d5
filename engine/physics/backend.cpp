#include "engine/physics/backend.h"

#include "engine/core/choice.h"
#include "engine/core/error.h"
#include "engine/physics/mujoco/mujoco_backend.h"
#ifdef SIMLAB_HAS_PHYSICS_BULLET
#include "engine/physics/bullet/bullet_backend.h"
#endif

namespace simlab::engine::physics {
namespace {

const Choice<BackendKind> kBackends[] = {{"mujoco", BackendKind::kMuJoCo},
                                         {"bullet", BackendKind::kBullet}};

}  // namespace

std::shared_ptr<const Model> load_model(const ModelSource& source, BackendKind backend) {
  switch (backend) {
    case BackendKind::kMuJoCo:
      return mujoco::load(source);
    case BackendKind::kBullet:
#ifdef SIMLAB_HAS_PHYSICS_BULLET
      return bullet::load(source);
#else
      break;
#endif
  }
  throw Error(SourceLocation{.file = source.path.string(), .field = "backend"},
              std::string("the ") + backend_name(backend) +
                  " backend is not built (configure with -DSIMLAB_WITH_BULLET=ON)");
}

bool bullet_available() {
#ifdef SIMLAB_HAS_PHYSICS_BULLET
  return true;
#else
  return false;
#endif
}

BackendKind parse_backend(const std::string& word, const std::string& field) {
  const auto kind = choice_value(kBackends, word);
  if (!kind)
    throw Error(SourceLocation{.field = field},
                "'" + word + "': expected " + choice_words(kBackends));
  if (*kind == BackendKind::kBullet && !bullet_available())
    throw Error(SourceLocation{.field = field},
                "'bullet': this simlab was built without Bullet (SIMLAB_WITH_BULLET=OFF)");
  return *kind;
}

void write_mjcf(const ModelSource& source, const World& world, const std::filesystem::path& out) {
  const auto* mj = dynamic_cast<const mujoco::MjWorld*>(&world);
#ifdef SIMLAB_HAS_PHYSICS_BULLET
  if (!mj) mj = bullet::mirror_of(world);  // a Bullet world's parameters live in its mirror
#endif
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
  return choice_name(kBackends, kind);
}

}  // namespace simlab::engine::physics
