// Camera frames for image observations: every env of a VectorEnv through the batch renderer
// (engine/render), from the scene's first [[camera]], as the learner stores them.
//
//   VectorEnv worlds + scenes::camera_view (per env, seeded as `simlab render` does) ->
//   BatchRenderer (64 x 64) -> [N, 3, 64, 64] uint8 (channels first)
//
// Built only with the renderer (SIMLAB_HAS_RENDER); without it the constructor throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "engine/vector_env.h"

namespace simlab::scenes {
struct Scene;
}

namespace simlab::learners {

constexpr int kFrameSize = 64;  // image observations are kFrameSize x kFrameSize RGB

// Whether this simlab can render image observations (it was built with the Vulkan renderer).
bool frames_available();

class FrameRenderer {
 public:
  // Throws simlab::Error (field `field`) when the scene has no [[camera]] or there is no renderer.
  FrameRenderer(const scenes::Scene& scene, std::uint64_t seed, const std::string& field);
  ~FrameRenderer();
  FrameRenderer(const FrameRenderer&) = delete;
  FrameRenderer& operator=(const FrameRenderer&) = delete;

  // [N, 3, 64, 64] uint8: what every env of `env` (made from the same scene) shows now.
  torch::Tensor render(const engine::VectorEnv& env);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks that `scene` has a camera for image observations: an Error naming the scene and `field`.
void require_camera(const scenes::Scene& scene, const std::string& field);

}  // namespace simlab::learners
