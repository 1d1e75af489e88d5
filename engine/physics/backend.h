// The physics backend interface. The static model is apart from the dynamic state, as in MuJoCo's
// mjModel/mjData and Drake's System/Context:
//
//   ModelSource (MJCF/URDF file or string) --load_model--> Model (immutable, shared by many envs)
//   Model::make_world()  --> World (one env's state; its own parameter copy only once randomized)
//   World::reset(rng) / World::step(ctrl, frame_skip) / World::observe(obs)
//
// No backend type (mjModel, btDynamicsWorld) appears in this header: the MuJoCo and Bullet
// implementations live in engine/physics/mujoco and engine/physics/bullet.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/core/batch.h"
#include "engine/core/rng.h"
#include "engine/core/spec.h"

namespace simlab::engine::physics {

enum class BackendKind { kMuJoCo, kBullet };

// Where a model comes from. MuJoCo's compiler reads both MJCF and URDF (a <robot> root).
struct ModelSource {
  std::filesystem::path path;  // file on disk, or the name shown in errors for an in-memory string
  std::string text;            // in-memory model; empty means read `path`

  static ModelSource file(std::filesystem::path p) { return {std::move(p), {}}; }
  static ModelSource string(std::string xml, std::string name = "<string>.xml") {
    return {std::move(name), std::move(xml)};
  }
  bool in_memory() const { return !text.empty(); }
};

// How a world is put back to the start of an episode.
struct ResetOptions {
  int keyframe = -1;  // index of the keyframe to start from; -1: the first one, if any, else qpos0
  double qpos_noise =
      0.01;  // uniform noise half-width on positions (rad or m), applied on the manifold
  double qvel_noise = 0.01;  // uniform noise half-width on velocities
};

// Physical parameters that domain randomization can change per env, by element name:
//   kBodyMass      a body's mass (its inertia scales along)         names: bodies
//   kGeomFriction  a geom's sliding friction                        names: geoms
//   kJointDamping  a joint's damping (every dof of the joint)       names: joints
//   kActuatorGain  an actuator's gear (force per unit of control)   names: actuators
//   kGravityZ      the vertical gravity component                   names: "world"
enum class Param { kBodyMass, kGeomFriction, kJointDamping, kActuatorGain, kGravityZ };

struct ModelInfo {
  std::string name;
  double timestep = 0;  // seconds per physics step
  int nq = 0, nv = 0, nu = 0, nsensordata = 0;
  int nbody = 0, ngeom = 0;
  Space observation;  // qpos, qvel, sensordata, as float32
  Space action;       // one element per actuator; bounds are its ctrlrange where limited
  std::vector<std::string> keyframes;  // keyframe names, by index ("" where unnamed)
  std::size_t model_bytes = 0;
};

class World {
 public:
  virtual ~World() = default;

  // Start a new episode: keyframe plus noise drawn from `rng`.
  virtual void reset(Rng& rng) = 0;
  // Hold `ctrl` (info().nu floats, already finite) for `frame_skip` physics steps. Never throws:
  // returns kDiverged when the state went bad (NaN/Inf, or a backend warning such as MuJoCo's
  // bad-qacc); the caller then resets the world.
  virtual StepStatus step(std::span<const float> ctrl, int frame_skip) = 0;
  // Write the observation (info().observation.dim() floats).
  virtual void observe(std::span<float> obs) const = 0;

  virtual double time() const = 0;
  // Bytes this world holds beyond the shared model (its state, plus its own parameter copy if any).
  virtual std::size_t bytes() const = 0;
  // True once this world has its own copy of the model's parameters (after randomization).
  virtual bool has_own_parameters() const = 0;

  // Set one parameter of this world only; the first call gives it its own parameter copy.
  virtual void set_param(Param param, int index, double value) = 0;
  virtual double param(Param param, int index) const = 0;
};

class Model : public std::enable_shared_from_this<Model> {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual BackendKind backend() const = 0;
  virtual std::unique_ptr<World> make_world(const ResetOptions& options = {}) const = 0;

  // The names of the elements a parameter exists for (index = position), and its shared value.
  virtual std::vector<std::string> param_names(Param param) const = 0;
  virtual double param_default(Param param, int index) const = 0;

  // The physical limit of this backend on this model, for benchmarks: step `worlds` bare states
  // (no batch, no resets, no checks) `steps` times each, round robin on the calling thread, with
  // the controls from `ctrl_table` ([rows, nu], row (world + step) % rows). Returns seconds taken.
  virtual double time_raw_loop(int worlds, int steps, int frame_skip,
                               const Buffer2D<float>& ctrl_table) const = 0;
};

// Load and compile a model. Bad input throws simlab::Error naming the file, line and element.
std::shared_ptr<const Model> load_model(const ModelSource& source,
                                        BackendKind backend = BackendKind::kMuJoCo);

const char* backend_name(BackendKind kind);

}  // namespace simlab::engine::physics
