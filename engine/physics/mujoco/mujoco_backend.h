// MuJoCo behind engine/physics/backend.h. One compiled mjModel is shared by every env with the same
// structure; each env owns an mjData, and an mjModel copy only after own_parameters() (domain
// randomization changed its masses, frictions, gains...). Only engine/physics and scenes' compiler
// see this header; everything else talks to the Backend interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <mujoco/mujoco.h>

#include "engine/physics/backend.h"

namespace simlab::engine::physics::mujoco {

struct ModelDeleter {
  void operator()(mjModel* m) const { mj_deleteModel(m); }
};
struct DataDeleter {
  void operator()(mjData* d) const { mj_deleteData(d); }
};
using ModelPtr = std::unique_ptr<mjModel, ModelDeleter>;
using DataPtr = std::unique_ptr<mjData, DataDeleter>;

class MjModel final : public Model {
 public:
  MjModel(ModelPtr model, std::string name, ArenaInfo arena = {});

  const ModelInfo& info() const override { return info_; }
  BackendKind backend() const override { return BackendKind::kMuJoCo; }
  std::unique_ptr<World> make_world(const ResetOptions& options) const override;
  double time_raw_loop(int worlds, int steps, int frame_skip,
                       const Buffer2D<float>& ctrl_table) const override;
  std::vector<std::string> names(Element element) const override;
  int quantity_dim(Quantity q, int index) const override;
  const VisualModel& visual() const override { return visual_; }
  double param_default(Param param, int index) const override;

  const mjModel* raw() const { return model_.get(); }
  int reset_keyframe(const ResetOptions& options) const;

 private:
  ModelPtr model_;
  ModelInfo info_;
  VisualModel visual_;
};

class MjWorld final : public World {
 public:
  MjWorld(std::shared_ptr<const MjModel> model, const ResetOptions& options);

  void reset(Rng& rng) override;
  StepStatus step(std::span<const float> ctrl, int frame_skip) override;
  void observe(std::span<float> obs) const override;
  double time() const override { return data_->time; }
  std::string fault() const override { return fault_; }
  std::size_t bytes() const override;
  bool has_own_parameters() const override { return own_ != nullptr; }
  void set_param(Param param, int index, double value) override;
  double param(Param param, int index) const override;
  void read(Quantity q, int index, std::span<double> out) const override;
  void write(Quantity q, int index, std::span<const double> values) override;
  void forward() override { mj_forward(model(), data_.get()); }
  void geom_poses(std::span<float> out) const override;
  void geom_colors(std::span<float> out) const override;
  void camera_pose(int camera, float pos[3], float mat[9]) const override;
  void lights(std::span<float> out) const override;

  // The parameters this world steps with: the shared model until own_parameters() is called.
  const mjModel* model() const { return own_ ? own_.get() : shared_->raw(); }
  const std::shared_ptr<const MjModel>& shared_model() const { return shared_; }
  // This world's own copy of the parameters, made on the first call, for randomization to edit.
  mjModel* own_parameters();
  mjData* data() { return data_.get(); }
  const mjData* data() const { return data_.get(); }

 private:
  std::shared_ptr<const MjModel> shared_;
  ModelPtr own_;
  DataPtr data_;
  ResetOptions options_;
  int keyframe_;
  std::vector<mjtNum> scratch_;  // (nv x 1) reset noise, allocated once
  std::string fault_;            // the last overflow, for World::fault()
};

// The number of qpos and qvel entries of a joint.
int joint_qpos_width(const mjModel* m, int joint);
int joint_dof_width(const mjModel* m, int joint);

// Compile an MJCF or URDF model, its worlds' arena sized as `arena` says. Errors name the file,
// line and element.
std::shared_ptr<const MjModel> load(const ModelSource& source, const ArenaOptions& arena = {});

// Write `source` as MJCF with `world`'s parameters (mj_saveLastXML), heightfields beside it.
void save_mjcf(const ModelSource& source, const MjWorld& world, const std::filesystem::path& out);

// "2.2.2" (the library loaded at run time) and the header version it was compiled against.
std::string version();

}  // namespace simlab::engine::physics::mujoco
