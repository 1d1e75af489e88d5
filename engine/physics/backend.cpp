#include "engine/physics/backend.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <vector>

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

std::shared_ptr<const Model> load_model(const ModelSource& source, BackendKind backend,
                                        const ArenaOptions& arena) {
  switch (backend) {
    case BackendKind::kMuJoCo:
      return mujoco::load(source, arena);
    case BackendKind::kBullet:
#ifdef SIMLAB_HAS_PHYSICS_BULLET
      return bullet::load(source, arena);
#else
      break;
#endif
  }
  throw Error(SourceLocation{.file = source.path.string(), .field = "backend"},
              std::string("the ") + backend_name(backend) +
                  " backend is not built (configure with -DSIMLAB_WITH_BULLET=ON)");
}

std::string describe_arena(const ArenaInfo& a) {
  auto one = [&](const char* name, int capacity, bool fitted, int peak) {
    std::ostringstream out;
    out << name << " " << capacity;
    if (fitted) out << " (fitted: " << a.margin << " x peak " << peak << ")";
    return out.str();
  };
  return one("nconmax", a.nconmax, a.fitted_con, a.peak_con) + ", " +
         one("njmax", a.njmax, a.fitted_efc, a.peak_efc) + ", " +
         one("nstack", a.nstack, a.fitted_stack, a.peak_stack);
}

RestState settle(const Model& model, const ResetOptions& reset, double seconds) {
  const ModelInfo& info = model.info();
  SIMLAB_CHECK(info.nbody > 1) << "a model with no body to measure";
  RestState rest;
  rest.body = model.names(Element::kBody)[1];
  ResetOptions still = reset;
  still.qpos_noise = still.qvel_noise = 0;
  auto world = model.make_world(still);
  Rng rng(0, 0, 0);
  world->reset(rng);
  const std::vector<float> zero(static_cast<std::size_t>(info.nu), 0.0f);
  const double dt = info.timestep;
  const int steps = std::max(1, static_cast<int>(std::lround(seconds / dt)));
  double still_since = 0, v[3], pos[3], z[3];
  for (int s = 1; s <= steps; ++s) {
    if (world->step(zero, 1) != StepStatus::kOk) {
      ++rest.diverged_steps;
      world->reset(rng);
    }
    world->read(Quantity::kBodyLinVel, 1, v);
    rest.speed = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (rest.speed >= 0.02) still_since = s * dt;
  }
  rest.settle_seconds = rest.speed < 0.02 ? still_since : -1;
  world->read(Quantity::kBodyPos, 1, pos);
  world->read(Quantity::kBodyZAxis, 1, z);
  rest.height = pos[2];
  rest.pitch_deg = std::acos(std::clamp(z[2], -1.0, 1.0)) * 180.0 / std::numbers::pi;
  // A contact between two of the model's bodies is seen from both.
  for (int b = 1; b < info.nbody; ++b) {
    double n = 0;
    world->read(Quantity::kBodyContact, b, {&n, 1});
    rest.contacts += static_cast<int>(n);
  }
  return rest;
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
