#include "learners/frames.h"

#include <vector>

#include "engine/core/error.h"
#include "scenes/render_camera.h"
#include "scenes/scene.h"

#ifdef SIMLAB_HAS_RENDER
#include "engine/render/batch_renderer.h"
#endif

namespace simlab::learners {

void require_camera(const scenes::Scene& scene, const std::string& field) {
  if (scene.spec.cameras.empty())
    throw Error(SourceLocation{.file = scene.spec.file.string(), .field = field},
                "rgb observations need a camera, and scene '" + scene.spec.name +
                    "' has no [[camera]] entry (scenes with one: cartpole-balance, push, "
                    "reacher, quadruped)");
}

#ifdef SIMLAB_HAS_RENDER

bool frames_available() {
  return true;
}

struct FrameRenderer::Impl {
  const scenes::Scene& scene;
  std::uint64_t seed;
  engine::render::BatchRenderer renderer;
  std::vector<const engine::physics::World*> worlds;
  std::vector<int> variants;
  std::vector<engine::render::Camera> cameras;
};

FrameRenderer::FrameRenderer(const scenes::Scene& scene, std::uint64_t seed,
                             const std::string& field) {
  require_camera(scene, field);
  impl_ = std::unique_ptr<Impl>(
      new Impl{scene, seed,
               engine::render::BatchRenderer(scenes::variant_models(scene),
                                             {.width = kFrameSize, .height = kFrameSize})});
}

FrameRenderer::~FrameRenderer() = default;

torch::Tensor FrameRenderer::render(const engine::VectorEnv& env) {
  auto& s = *impl_;
  const int n = env.num_envs();
  s.worlds.resize(n);
  s.variants.resize(n);
  s.cameras.resize(n);
  for (int i = 0; i < n; ++i) {
    s.worlds[i] = &env.world(i);
    s.variants[i] = env.variant_of(i);
    // The scene's first camera, where `simlab render` with the same seed would put it.
    s.cameras[i] = scenes::render_camera(s.scene, 0, *s.worlds[i], i, s.seed);
  }
  s.renderer.render(s.worlds, s.variants, s.cameras);
  const auto& rgb = s.renderer.rgb();  // [N, H, W, 3]
  return torch::from_blob(const_cast<std::uint8_t*>(rgb.data()), {n, kFrameSize, kFrameSize, 3},
                          torch::kUInt8)
      .permute({0, 3, 1, 2})
      .contiguous();
}

#else

bool frames_available() {
  return false;
}

struct FrameRenderer::Impl {};

FrameRenderer::FrameRenderer(const scenes::Scene& scene, std::uint64_t, const std::string& field) {
  require_camera(scene, field);
  throw Error(SourceLocation{.field = field},
              "rgb observations need the Vulkan renderer, and this simlab was built without it "
              "(install libvulkan-dev, glslc and mesa-vulkan-drivers, then rebuild)");
}

FrameRenderer::~FrameRenderer() = default;

torch::Tensor FrameRenderer::render(const engine::VectorEnv&) {
  return {};
}

#endif

}  // namespace simlab::learners
