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
