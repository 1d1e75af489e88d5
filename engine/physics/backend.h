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

// Elevations of a heightfield the model declares (<hfield name=... nrow=... ncol=...>): row-major
// nrow x ncol values in [0, 1], scaled by the hfield's size. MJCF in MuJoCo 2.2.2 can only read
// them from a file, so generated terrain travels beside the model text.
struct HeightField {
  std::string name;
  int nrow = 0, ncol = 0;
  std::vector<float> elevation;
};

// Where a model comes from. MuJoCo's compiler reads both MJCF and URDF (a <robot> root).
struct ModelSource {
  std::filesystem::path path;  // file on disk, or the name shown in errors for an in-memory
                               // string; relative asset paths resolve against its folder
  std::string text;            // in-memory model; empty means read `path`
  std::vector<HeightField> heightfields;  // filled in after compiling

  static ModelSource file(std::filesystem::path p) { return {std::move(p), {}}; }
  static ModelSource string(std::string xml, std::string name = "<string>.xml") {
    return {std::move(name), std::move(xml)};
  }
  bool in_memory() const { return !text.empty(); }
};

// How a world is put back to the start of an episode.
struct ResetOptions {
  int keyframe = -1;  // index of the keyframe to start from; -1: the first one, if any, else qpos0
  double qpos_noise = 0.01;  // uniform noise half-width on positions (rad or m), on the manifold
  double qvel_noise = 0.01;  // uniform noise half-width on velocities
};

// Named elements of a model, which terms, observations and randomization refer to.
enum class Element { kBody, kJoint, kGeom, kSite, kSensor, kActuator, kLight, kCamera, kWorld };

// Physical and visual parameters that domain randomization can change per env, one scalar each,
// addressed by (param, element index):
//   kBodyMass            a body's mass (its inertia scales along)               element: body
//   kBodyComX/Y/Z        its centre of mass in its own frame (m)                element: body
//   kGeomFriction        a geom's sliding friction                              element: geom
//   kGeomSoftness        contact softness: the time constant of solref (s)      element: geom
//   kGeomR/G/B           colour channels in [0, 1]                              element: geom
//   kJointDamping        damping of every dof of the joint                      element: joint
//   kJointArmature       rotor inertia added to every dof of the joint          element: joint
//   kJointFrictionLoss   dry friction of every dof of the joint                 element: joint
//   kActuatorGain        an actuator's strength: its force gain; a servo's      element: actuator
//                        affine bias (stiffness, damping) scales along, so its set point stays
//   kActuatorForceLimit  the symmetric limit on its force (turns the limit on)  element: actuator
//   kGravityZ            the vertical gravity component                         element: world
//   kLightPosX/Y/Z       a light's position (m)                                 element: light
//   kLightDiffuse        a light's diffuse intensity (all three channels)       element: light
//   kCameraPosX/Y/Z      a camera's position (m)                                element: camera
enum class Param {
  kBodyMass,
  kBodyComX,
  kBodyComY,
  kBodyComZ,
  kGeomFriction,
  kGeomSoftness,
  kGeomR,
  kGeomG,
  kGeomB,
  kJointDamping,
  kJointArmature,
  kJointFrictionLoss,
  kActuatorGain,
  kActuatorForceLimit,
  kGravityZ,
  kLightPosX,
  kLightPosY,
  kLightPosZ,
  kLightDiffuse,
  kCameraPosX,
  kCameraPosY,
  kCameraPosZ,
};
Element param_element(Param param);

// What a world reports about one element, in SI units and the world frame (read by observation,
// reward and termination terms):
//   kJointPos      joint     its qpos entries (7 free, 4 ball, 1 hinge or slide)
//   kJointVel      joint     its qvel entries (6 free, 3 ball, 1)
//   kBodyPos       body      3: position of its frame
//   kBodyQuat      body      4: orientation, w first
//   kBodyZAxis     body      3: its z axis (z component 1 when upright)
//   kBodyLinVel    body      3: linear velocity of its frame
//   kBodyAngVel    body      3: angular velocity
//   kSitePos       site      3: position
//   kSensor        sensor    its dim values
//   kBodyContact   body      1: the number of contacts touching the body's geoms
//   kActuatorForce actuator  1: the force or torque it applies
enum class Quantity {
  kJointPos,
  kJointVel,
  kBodyPos,
  kBodyQuat,
  kBodyZAxis,
  kBodyLinVel,
  kBodyAngVel,
  kSitePos,
  kSensor,
  kBodyContact,
  kActuatorForce,
};

// What a renderer needs of a model, in backend-neutral form (engine/render never sees MuJoCo).
enum class GeomShape {
  kPlane,
  kHeightField,
  kSphere,
  kCapsule,
  kEllipsoid,
  kCylinder,
  kBox,
  kMesh
};
struct VisualGeom {
  GeomShape shape = GeomShape::kSphere;
  float size[3] = {0, 0, 0};    // MuJoCo's geom_size: half sizes, radii, half lengths
  int group = 0;                // visibility group; groups 0-2 are drawn
  int data = -1;                // kMesh: index into meshes; kHeightField: into heightfields
  int texture = -1;             // index into textures, from the geom's material; -1: none
  float texrepeat[2] = {1, 1};  // 2D textures: repetitions, per metre (texuniform) or per geom
  bool texuniform = false;
};
// A texture's texels, RGB, rows top to bottom. A cube texture holds its six faces stacked
// (height == 6 * width) in the order +x, -x, +y, -y, +z, -z.
struct VisualTexture {
  int width = 0, height = 0;
  bool cube = false;
  std::vector<std::uint8_t> rgb;
};
struct VisualMesh {
  std::vector<float> vertices;  // (n x 3), in the geom's frame
  std::vector<int> faces;       // (m x 3), counter-clockwise from outside
};
struct VisualHeightField {
  int nrow = 0, ncol = 0;
  float size[4] = {0, 0, 0, 0};  // x, y half extents; z top; base depth
  std::vector<float> elevation;  // (nrow x ncol) in [0, 1]
};
struct VisualCamera {
  std::string name;
  float fovy_deg = 45;
};
struct VisualModel {
  std::vector<VisualGeom> geoms;
  std::vector<VisualMesh> meshes;
  std::vector<VisualHeightField> heightfields;
  std::vector<VisualCamera> cameras;
  std::vector<VisualTexture> textures;
  int lights = 0;               // lights World::lights() reports
  float center[3] = {0, 0, 0};  // the model's centre and size (at qpos0), for default cameras
  float extent = 1;
};

// A world's working memory. MuJoCo gives every world a fixed arena: a stack, nconmax contacts and
// njmax constraint rows (whose matrices grow with njmax^2), all sized once per model. A model's own
// <size nstack=... njmax=... nconmax=...> keeps its figures; where it leaves one out, load_model
// fits it: a probe rollout (random controls held for a few steps, resets with noise) measures the
// peak use, and the model gets `margin` times that, but never less than its structure can need at
// once in states a probe rarely reaches (every moving colliding geom touching, with its contact
// rows, every joint limit active); the stack grows with the constraint rows' headroom. Without
// fitting, MuJoCo's defaults give 13-15 MB per world whatever the model.
struct ArenaOptions {
  bool fit = true;
  double margin = 2.0;         // capacity = margin x the probe's peak
  double probe_seconds = 6.0;  // simulated time of the probe, in episodes of 2 s
};
// What a model's worlds get, and where each figure came from.
struct ArenaInfo {
  int nstack = 0, njmax = 0, nconmax = 0;  // capacities (mjtNums, rows, contacts)
  bool fitted_stack = false, fitted_efc = false, fitted_con = false;  // else the model's own
  int peak_stack = 0, peak_efc = 0, peak_con = 0;  // the probe's peak use (where it ran)
  int probe_steps = 0;                             // 0: no probe ran
  double margin = 0;
  bool fitted() const { return fitted_stack || fitted_efc || fitted_con; }
};
// "nconmax 12 (fitted: 2 x peak 6), njmax 48, nstack 9000 (fitted: 2 x peak 4500)".
std::string describe_arena(const ArenaInfo& arena);

// What a joint is (MuJoCo's joint types), by joint index in ModelInfo::joint_kinds.
enum class JointKind { kFree, kBall, kSlide, kHinge };

struct ModelInfo {
  std::string name;
  double timestep = 0;  // seconds per physics step
  // Contact time constants (solref[0]) below this are silently raised to it (MuJoCo's refsafe
  // flag: 2 x timestep); 0 where the model disables it.
  double min_time_constant = 0;
  int nq = 0, nv = 0, nu = 0, nsensordata = 0;
  int nbody = 0, ngeom = 0;
  Space observation;  // qpos, qvel, sensordata, as float32
  Space action;       // one element per actuator; bounds are its ctrlrange where limited
  std::vector<std::string> keyframes;  // keyframe names, by index ("" where unnamed)
  std::vector<JointKind> joint_kinds;  // by joint index
  std::size_t model_bytes = 0;
  ArenaInfo arena;  // MuJoCo's per-world buffers (on Bullet: its MuJoCo mirror's)
};

class World {
 public:
  virtual ~World() = default;

  // Start a new episode: keyframe plus noise drawn from `rng`.
  virtual void reset(Rng& rng) = 0;
  // Hold `ctrl` (info().nu floats, already finite) for `frame_skip` physics steps. Never throws:
  // returns kDiverged when the state went bad (NaN/Inf, or a backend warning such as MuJoCo's
  // bad-qacc), kOverflow when a fixed buffer filled up (MuJoCo's contacts, constraint rows or
  // stack; fault() says which); the caller then resets the world.
  virtual StepStatus step(std::span<const float> ctrl, int frame_skip) = 0;
  // Write the observation (info().observation.dim() floats).
  virtual void observe(std::span<float> obs) const = 0;

  virtual double time() const = 0;
  // What the last kOverflow step ran out of, and how to raise it ("" before any).
  virtual std::string fault() const { return {}; }
  // Bytes this world holds beyond the shared model (its state, plus its own parameter copy if any).
  virtual std::size_t bytes() const = 0;
  // True once this world has its own copy of the model's parameters (after randomization).
  virtual bool has_own_parameters() const = 0;

  // Set one parameter of this world only; the first call gives it its own parameter copy.
  virtual void set_param(Param param, int index, double value) = 0;
  virtual double param(Param param, int index) const = 0;

  // Read one quantity of one element into `out` (Model::quantity_dim values).
  virtual void read(Quantity q, int index, std::span<double> out) const = 0;
  // Overwrite a joint's position or velocity entries (kJointPos/kJointVel only), e.g. to set the
  // initial state after a reset or to push a body. Derived quantities (body and site positions,
  // sensors) are stale until forward(), so that many writes cost one recomputation.
  virtual void write(Quantity q, int index, std::span<const double> values) = 0;
  virtual void forward() = 0;

  // For rendering: every geom's pose ([ngeom x 12]: position, then the rotation matrix row-major)
  // and colour ([ngeom x 4] rgba, as this world's parameters say: randomized colours included),
  // and a camera's pose (position, rotation matrix whose columns are the camera's right, up and
  // backward axes: it looks along -z).
  virtual void geom_poses(std::span<float> out) const = 0;
  virtual void geom_colors(std::span<float> out) const = 0;
  virtual void camera_pose(int camera, float pos[3], float mat[9]) const = 0;
  // Every light ([visual().lights x 10]): world position, world direction, diffuse rgb (this
  // world's parameters: randomized lights included), and 1 for a directional light, else 0. A
  // light that is off has a black diffuse.
  virtual void lights(std::span<float> out) const = 0;
};

class Model : public std::enable_shared_from_this<Model> {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual BackendKind backend() const = 0;
  virtual std::unique_ptr<World> make_world(const ResetOptions& options = {}) const = 0;

  // The names of a kind of element, by index ("" where unnamed elements have no name).
  virtual std::vector<std::string> names(Element element) const = 0;
  // How many values World::read writes for `q` of element `index`.
  virtual int quantity_dim(Quantity q, int index) const = 0;
  // Geoms, meshes, heightfields and cameras for a renderer.
  virtual const VisualModel& visual() const = 0;

  // The names of the elements a parameter exists for (index = position), and its shared value.
  std::vector<std::string> param_names(Param param) const { return names(param_element(param)); }
  virtual double param_default(Param param, int index) const = 0;

  // The physical limit of this backend on this model, for benchmarks: step `worlds` bare states
  // (no batch, no resets, no checks) `steps` times each, round robin on the calling thread, with
  // the controls from `ctrl_table` ([rows, nu], row (world + step) % rows). Returns seconds taken.
  virtual double time_raw_loop(int worlds, int steps, int frame_skip,
                               const Buffer2D<float>& ctrl_table) const = 0;
};

// Load and compile a model. Bad input throws simlab::Error naming the file, line and element.
// `arena` says how MuJoCo worlds' buffers are sized where the model does not size them.
std::shared_ptr<const Model> load_model(const ModelSource& source,
                                        BackendKind backend = BackendKind::kMuJoCo,
                                        const ArenaOptions& arena = {});

// Where a model comes to rest with zero controls, started from `reset`'s keyframe without noise:
// what cross-engine checks compare (`simlab scenes check --backend bullet`).
struct RestState {
  std::string body;            // the measured body: the model's first (its robot's root)
  double height = 0;           // its z at the end (m)
  double pitch_deg = 0;        // the tilt of its z axis from vertical at the end (degrees)
  double settle_seconds = -1;  // from when its speed stayed under 2 cm/s; -1: never settled
  double speed = 0;            // its speed at the end (m/s)
  int contacts = 0;            // contacts touching any of the model's bodies at the end
  int diverged_steps = 0;      // steps the backend reported bad (then the world was reset)
};
RestState settle(const Model& model, const ResetOptions& reset, double seconds = 3.0);

const char* backend_name(BackendKind kind);
// "mujoco" or "bullet"; anything else, or "bullet" in a build without it, is an Error naming
// `field` (e.g. "--backend").
BackendKind parse_backend(const std::string& word, const std::string& field = "--backend");
// Whether this build has the Bullet backend (SIMLAB_WITH_BULLET).
bool bullet_available();

// Write the model of `source` as MJCF with the parameters `world` runs with (its randomized
// masses, frictions, colours...), for debugging one env. Heightfield elevations go to
// `out`.stem + "-NAME.bin" files beside it, which the written MJCF references.
void write_mjcf(const ModelSource& source, const World& world, const std::filesystem::path& out);

}  // namespace simlab::engine::physics
