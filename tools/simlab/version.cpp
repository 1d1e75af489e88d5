// simlab version: this build's version and the versions of the libraries it was built with.
#include <cstdio>
#include <oneapi/tbb/version.h>
#include <string>
#include <utility>
#include <vector>

#include "engine/physics/mujoco/mujoco_backend.h"
#include "tools/simlab/commands.h"
#ifdef SIMLAB_HAS_PHYSICS_BULLET
#include "engine/physics/bullet/version.h"
#endif
#ifdef SIMLAB_HAS_RENDER
#include "engine/render/version.h"
#endif
#ifdef SIMLAB_HAS_LEARNERS
#include "learners/version.h"
#endif

namespace simlab::tools {

void add_version_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("version", "Print simlab's version and the libraries it was built with");
  cmd->callback([] {
    std::vector<std::pair<std::string, std::string>> rows = {
        {"MuJoCo", engine::physics::mujoco::version()},
#ifdef SIMLAB_HAS_PHYSICS_BULLET
        {"Bullet", engine::physics::bullet::version()},
#else
        {"Bullet", "not built (SIMLAB_WITH_BULLET=OFF)"},
#endif
#ifdef SIMLAB_HAS_RENDER
        {"Vulkan", engine::render::vulkan_version()},
#else
        {"Vulkan", "not built (SIMLAB_WITH_VULKAN=OFF)"},
#endif
#ifdef SIMLAB_HAS_LEARNERS
        {"LibTorch", learners::torch_version()},
#else
        {"LibTorch", "not built (SIMLAB_WITH_TORCH=OFF)"},
#endif
        {"oneTBB", TBB_VERSION_STRING},
        {"compiler", __VERSION__},
    };
    std::printf("simlab %s\n", SIMLAB_VERSION);
    for (const auto& [name, version] : rows)
      std::printf("  %-9s %s\n", name.c_str(), version.c_str());
  });
}

}  // namespace simlab::tools
