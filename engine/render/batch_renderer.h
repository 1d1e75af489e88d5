// The batch renderer: every env's camera image in one pass, read back as learner-ready arrays.
//
//   models (one per structural variant) --upload once--> one vertex/index buffer, a draw range per
//   (model, geom)
//   render(worlds, variants, cameras): per env, its geom poses and colours (randomized ones
//   included) -> instance records -> one render pass into an atlas of W x H tiles (one viewport per
//   env) -> copy to host -> rgb [N, H, W, 3] uint8, depth [N, H, W] float32 metres along the camera
//   axis, segmentation [N, H, W] int32 geom index (-1: background)
//
// Runs headless on Mesa's lavapipe (CPU) and on GPUs; no window system is needed. No MuJoCo type
// appears here: geometry comes through physics::Model::visual() and World::geom_poses().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/physics/backend.h"

namespace simlab::engine::render {

// Where an env is seen from: a position and a rotation whose columns are the camera's right, up
// and backward axes (row-major; MuJoCo's camera frame: it looks along -z).
struct Camera {
  float pos[3] = {0, 0, 0};
  float mat[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  float fovy_deg = 45;
};
// A camera at `eye` looking at `target`, z up.
Camera look_at(const float eye[3], const float target[3], float fovy_deg = 45);
// A free camera that frames a model: in front of and above its centre, at 1.6 extents.
Camera default_camera(const physics::VisualModel& model);

struct RenderConfig {
  int width = 64, height = 64;
  float znear = 0.01f, zfar = 50.0f;  // metres; depth reads zfar where nothing was hit
  float background[3] = {0.55f, 0.65f, 0.8f};
  // Where geometry and textures live: kAuto puts them in device-local memory (behind one staging
  // copy) on GPUs and leaves them host-visible on CPU devices, where a copy buys nothing.
  enum class StaticMemory { kAuto, kHost, kDevice } static_memory = StaticMemory::kAuto;
};

class BatchRenderer {
 public:
  // Throws simlab::Error when there is no Vulkan device (naming what to install).
  BatchRenderer(std::vector<std::shared_ptr<const physics::Model>> models, RenderConfig config);
  ~BatchRenderer();
  BatchRenderer(const BatchRenderer&) = delete;
  BatchRenderer& operator=(const BatchRenderer&) = delete;

  // Render worlds[i], which runs models[variants[i]], from cameras[i].
  void render(std::span<const physics::World* const> worlds, std::span<const int> variants,
              std::span<const Camera> cameras);

  int width() const { return config_.width; }
  int height() const { return config_.height; }
  int count() const { return count_; }
  const std::vector<std::uint8_t>& rgb() const { return rgb_; }           // [N, H, W, 3]
  const std::vector<float>& depth() const { return depth_; }              // [N, H, W]
  const std::vector<std::int32_t>& segmentation() const { return seg_; }  // [N, H, W]
  const std::string& device_name() const;
  bool on_cpu() const;  // lavapipe or another CPU implementation
  // Device memory held for targets, geometry and instance data.
  std::size_t device_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  RenderConfig config_;
  int count_ = 0;
  std::vector<std::uint8_t> rgb_;
  std::vector<float> depth_;
  std::vector<std::int32_t> seg_;
};

}  // namespace simlab::engine::render
