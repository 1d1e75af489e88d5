// The scene's [[camera]]s: finding one by name, and where it is for one env of a run.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/env_slot.h"
#include "engine/physics/backend.h"
#include "scenes/scene.h"
#include "scenes/terms.h"

namespace simlab::scenes {

int find_camera(const SceneSpec& spec, const std::string& name) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < spec.cameras.size(); ++i) {
    if (spec.cameras[i].name == name) return static_cast<int>(i);
    names.push_back(spec.cameras[i].name);
  }
  throw Error(SourceLocation{.file = spec.file.string(), .field = "camera"},
              "scene '" + spec.name + "' has no camera '" + name + "'" +
                  suggest(name, names, "its cameras"));
}

CameraView camera_view(const Scene& scene, int camera, const engine::physics::World& world, int env,
                       std::uint64_t seed) {
  const CameraSpec& cam = scene.spec.cameras.at(static_cast<std::size_t>(camera));
  CameraView view{.fovy = cam.fovy};
  double base[3] = {0, 0, 0};
  if (!cam.track.empty()) {
    const auto& model =
        *scene.variants[static_cast<std::size_t>(env) % scene.variants.size()].model;
    const auto bodies = model.names(engine::physics::Element::kBody);
    const int body =
        static_cast<int>(std::find(bodies.begin(), bodies.end(), cam.track) - bodies.begin());
    world.read(engine::physics::Quantity::kBodyPos, body, base);
  }
  // The jitter is the env's own, on a stream no other draw uses (interval streams are 16 + step).
  engine::Rng rng(seed, static_cast<std::uint32_t>(env), 0,
                  engine::rng_stream::kCamera + static_cast<std::uint32_t>(camera));
  // Draw order: pos, then target, then fovy, each only when its noise is on.
  auto jitter = [&rng](double noise) { return noise > 0 ? rng.uniform(-1, 1) * noise : 0.0; };
  for (int k = 0; k < 3; ++k)
    view.eye[k] = base[k] + cam.pos[k] + jitter(cam.pos_noise);
  for (int k = 0; k < 3; ++k)
    view.target[k] = base[k] + cam.target[k] + jitter(cam.target_noise);
  view.fovy += jitter(cam.fovy_noise);
  return view;
}

}  // namespace simlab::scenes
