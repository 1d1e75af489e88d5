// A scene camera as the batch renderer takes it: header-only, for code that renders (it needs
// engine/render, which scenes/ itself does not link).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/error.h"
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

// A camera as commands name it: a scene [[camera]] first, then the model's own <camera>s.
struct CameraChoice {
  int scene = -1;  // index into the spec's cameras
  int model = -1;  // index into the model's cameras (VisualModel::cameras)
  bool chosen() const { return scene >= 0 || model >= 0; }
};

// `name` among the scene's and then the model's cameras; "" picks the scene's first camera if it
// has one (else nothing: the caller frames the model). An unknown name is an Error naming `field`
// and listing the cameras.
inline CameraChoice choose_camera(const Scene& scene, const std::string& name,
                                  const std::string& field = "camera") {
  const auto& cams = scene.spec.cameras;
  const auto& model_cams = scene.model->visual().cameras;
  CameraChoice c;
  if (name.empty()) {
    c.scene = cams.empty() ? -1 : 0;
    return c;
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < cams.size(); ++i) {
    if (cams[i].name == name) c.scene = static_cast<int>(i);
    names.push_back(cams[i].name);
  }
  for (std::size_t i = 0; i < model_cams.size() && c.scene < 0; ++i) {
    if (model_cams[i].name == name) c.model = static_cast<int>(i);
    names.push_back(model_cams[i].name);
  }
  if (!c.chosen()) {
    const auto guess = did_you_mean(name, names);
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    throw Error(SourceLocation{.file = scene.spec.file.string(), .field = field},
                "scene '" + scene.spec.name + "' has no camera '" + name + "'" +
                    (guess.empty() ? " (its cameras: " + (list.empty() ? "none" : list) + ")"
                                   : "; did you mean '" + guess + "'?"));
  }
  return c;
}

// The chosen camera for env `env` (a model camera where this env's world puts it, pose
// randomization included), or the default framing camera when none is chosen.
inline engine::render::Camera render_camera(const Scene& scene, const CameraChoice& choice,
                                            const engine::physics::World& world, int env,
                                            std::uint64_t seed) {
  if (choice.model >= 0) {
    engine::render::Camera cam;
    world.camera_pose(choice.model, cam.pos, cam.mat);
    cam.fovy_deg = scene.variants[static_cast<std::size_t>(env) % scene.variants.size()]
                       .model->visual()
                       .cameras[static_cast<std::size_t>(choice.model)]
                       .fovy_deg;
    return cam;
  }
  return render_camera(scene, choice.scene, world, env, seed);
}

}  // namespace simlab::scenes
