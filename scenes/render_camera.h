// A scene camera as the batch renderer takes it: header-only, for code that renders (it needs
// engine/render, which scenes/ itself does not link).
#pragma once

#include <cstdint>

#include "engine/render/batch_renderer.h"
#include "scenes/scene.h"

namespace simlab::scenes {

// Camera `camera` of `scene` for env `env` of a run with `seed`, whose world is `world` (tracked
// bodies are read from it; see camera_view); camera < 0: the default camera framing the env's
// variant.
inline engine::render::Camera render_camera(const Scene& scene, int camera,
                                            const engine::physics::World& world, int env,
                                            std::uint64_t seed) {
  if (camera < 0)
    return engine::render::default_camera(
        scene.variants[static_cast<std::size_t>(env) % scene.variants.size()].model->visual());
  const CameraView view = camera_view(scene, camera, world, env, seed);
  const float eye[3] = {static_cast<float>(view.eye[0]), static_cast<float>(view.eye[1]),
                        static_cast<float>(view.eye[2])};
  const float target[3] = {static_cast<float>(view.target[0]), static_cast<float>(view.target[1]),
                           static_cast<float>(view.target[2])};
  return engine::render::look_at(eye, target, static_cast<float>(view.fovy));
}

}  // namespace simlab::scenes
