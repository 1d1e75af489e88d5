// A scene is one declarative spec file (TOML) that turns a robot model into a task:
//
//   scenes/specs/NAME.toml --load_scene--> SceneSpec --compile_scene(seed)--> Scene
//       model, procedural content,          variants: the model plus procedural content of
//       observation, reward, termination,     variant v (objects, terrain, lights) generated from
//       randomization, control rate,          (seed, v), each compiled once and shared by every
//       episode length                        env that runs it (env i runs variant i % V); terms
//                                             and randomization resolved against each variant
//
// Observation, reward and termination terms are resolved against element names once per variant,
// then evaluated in C++ inside the batched step. Adding a task is one spec file plus its assets.
// Every error names file:line:column and the key path; unknown keys get a "did you mean".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "engine/vector_env.h"
#include "scenes/procedural.h"

namespace simlab::scenes {

// One observation, reward or termination term. Which keys a term needs depends on its kind (see
// the worked example, scenes/specs/cartpole-balance.toml).
struct TermSpec {
  std::string term;                 // e.g. upright, distance, joint_pos, body_below
  std::vector<std::string> joints;  // joint terms (observations may name several, or "*")
  std::string body, site, sensor;   // the element a term reads
  std::string from, to;             // distance terms: a site or body name each
  std::string behind;               // distance terms: push `to` towards it (see TermDistance)
  double gap = 0.0;                 // how far behind `to` the push spot lies (m)
  bool horizontal = false;          // distance terms: measure in the table's plane (x, y only)
  double tanh_scale = 0.0;          // distance: > 0 rewards 1 - tanh(tanh_scale * d), not -d
  std::string prefix;               // bodies_pos: bodies PREFIX0, PREFIX1, ... (procedural)
  int count = 0;                    // bodies_pos: slots (absent bodies read as zeros)
  int axis = 0;                     // body_velocity: 0 x, 1 y, 2 z
  double weight = 1.0;
  double target = 0.0;               // joint_position: the target position
  double min = -1e300, max = 1e300;  // ranges, thresholds and clips
  double noise = 0.0;                // observations: gaussian sensor noise (stddev)
  SourceLocation where;              // for errors found after parsing (the element's key)
  SourceLocation behind_where;       // the same for `behind`
};

// One domain-randomization term: draw a value per target element and per env, at startup (once),
// at every reset, or every interval_seconds within an episode; use it as a factor on the model's
// value, as an offset, or as the value.
struct RandomizeSpec {
  std::string param_name;                      // as written: body_mass, body_com, push, ...
  std::vector<engine::physics::Param> params;  // the model parameters it sets (3 for body_com)
  enum class State { kNone, kJointPosition, kJointVelocity, kPush } state = State::kNone;
  std::vector<std::string> targets;  // element names; "*" for every element
  enum class Mode { kStartup, kReset, kInterval } mode = Mode::kReset;
  double interval_seconds = 0;  // interval mode
  enum class Distribution {
    kUniform,
    kLogUniform,
    kGaussian
  } distribution = Distribution::kUniform;
  double a = 1, b = 1;  // uniform, log_uniform: [a, b]; gaussian: mean a, stddev b
  enum class Operation { kScale, kAdd, kAbsolute } operation = Operation::kScale;
  // `heldout = [low, high]`: a wider range, never trained on, for evaluating transfer. It contains
  // [a, b] (gaussian: [mean, stddev] with the same mean and a stddev >= b). Without the key the
  // held-out range is the training range.
  bool has_heldout = false;
  double heldout_a = 1, heldout_b = 1;
  // Set by with_randomization(kHeldout): draw from the held-out range minus the training range
  // (uniform, log_uniform: the bands on either side, by width, in log space for log_uniform), or
  // from the wider gaussian; one random number per draw, as in training.
  bool draw_heldout = false;
  SourceLocation where, targets_where, heldout_where;
};

// [[camera]]: a free camera for rendering, fixed in the world or following a body, with a
// per-env jitter of its position (drawn once per env from the seed).
struct CameraSpec {
  std::string name;
  double pos[3] = {1.5, -1.5, 1.2};  // metres; relative to the tracked body's position if any
  double target[3] = {0, 0, 0};      // the point it looks at, likewise
  std::string track;                 // a body name, or "" for a fixed camera
  double fovy = 45;                  // vertical field of view, degrees
  double pos_noise = 0;              // uniform jitter of each coordinate of pos, +- metres
  double target_noise = 0;           // likewise of target: the orientation jitter, +- metres
  double fovy_noise = 0;             // uniform jitter of fovy, +- degrees
  SourceLocation where, track_where;
};

// [train.ppo]: the scene's documented PPO recipe, what `simlab train` (and `bench transfer`) use
// for every setting the command line leaves out. Unset fields fall back to the learner's defaults.
// Plain numbers: scenes/ never sees the learners' types.
struct PpoRecipe {
  std::optional<std::int64_t> steps;
  std::optional<int> envs, horizon, hidden, epochs, minibatches;
  std::optional<double> lr, gamma, lambda, entropy, init_log_std;
  bool empty() const {
    return !steps && !envs && !horizon && !hidden && !epochs && !minibatches && !lr && !gamma &&
           !lambda && !entropy && !init_log_std;
  }
};

// [[actuator]]: actuators added to the model when the scene compiles, so that URDF robots (whose
// <transmission>s MuJoCo does not read) and actuator-less MJCF become controllable. One entry
// drives every joint its names or glob patterns match ("*": every hinge and slide joint).
struct ActuatorSpec {
  enum class Type { kMotor, kPosition, kVelocity } type = Type::kMotor;
  std::vector<std::string> joints;
  double gear = 1;                     // motor: torque (force) = gear x control
  double kp = 10;                      // position: stiffness of the servo
  double kv = 1;                       // velocity: gain of the servo
  double ctrl_min = -1, ctrl_max = 1;  // the action's range
  bool force_limited = false;          // clamp the actuator's output to [force_min, force_max]
  double force_min = 0, force_max = 0;
  SourceLocation where, joints_where;
};

// Where a scene camera is for one env: eye and target in world coordinates.
struct CameraView {
  double eye[3], target[3];
  double fovy;
};

struct SceneSpec {
  std::filesystem::path file;  // where the spec came from
  std::string name;
  std::string description;
  std::filesystem::path model;  // resolved path to the MJCF/URDF model
  double control_hz = 50;
  double episode_seconds = 10;
  // Control steps each decision of a learner that repeats actions (dreamer) holds for, unless
  // it is told otherwise; 0: the learner's own default.
  int action_repeat = 0;
  // A model without <size>: its worlds' arena is fitted to a probe rollout's peak use times this
  // (engine::physics::ArenaOptions); 0: MuJoCo's defaults.
  double memory_margin = 2.0;
  engine::physics::ResetOptions reset;
  std::string reset_keyframe;          // by name; empty: the model's first keyframe
  std::vector<TermSpec> observations;  // empty: the model's qpos, qvel and sensordata
  std::vector<TermSpec> rewards;
  std::vector<TermSpec> terminations;
  std::vector<RandomizeSpec> randomize;
  ProceduralSpec procedural;
  std::vector<CameraSpec> cameras;
  std::vector<ActuatorSpec> actuators;  // added to the model's own
  double obs_dropout = 0;               // [corruption]
  int action_delay_min = 0, action_delay_max = 0;
  // [corruption] action_delay_heldout = [min, max]: contains action_delay; -1: not declared.
  int heldout_delay_min = -1, heldout_delay_max = -1;
  PpoRecipe ppo_recipe;  // [train.ppo]
  SourceLocation keyframe_where, control_where;
};

// Which randomization a scene runs with:
//   kTrain    the spec's ranges (what training sees)
//   kHeldout  the held-out ranges: each [[randomize]] term with `heldout` draws from its held-out
//             range minus its training range (values training never saw), the others from their
//             training range; an `action_delay_heldout` delay is drawn from the delays above the
//             training maximum (or its whole range when it only widens downwards)
//   kNone     no parameter randomization and no pushes; initial-state terms (where episodes start)
//             and [corruption] stay, because they are the task and the sensor/actuator model
enum class Randomization { kTrain, kHeldout, kNone };
// "train", "heldout" or "none"; anything else is an Error naming `field`.
Randomization parse_randomization(const std::string& word, const std::string& field);
const char* randomization_name(Randomization r);
// Whether the spec declares any held-out range.
bool has_heldout(const SceneSpec& spec);
// The spec as it runs under `r`. kHeldout on a spec without held-out ranges is an Error naming
// the spec's file.
SceneSpec with_randomization(SceneSpec spec, Randomization r);

// One shift a transfer benchmark sweeps: a [[randomize]] term with a held-out range, or the action
// delay when [corruption] declares action_delay_heldout. Its values run over the held-out range:
//   kValue      a parameter held at one value (scale or absolute: x the model's value, or the
//               value; grid spaced in log for log_uniform terms)
//   kHalfWidth  a symmetric additive term (pushes: range = [-m, m]) drawn with half-width m, from
//               0 to the held-out half-width
//   kDelay      the action delay held at d control steps, 0 .. the held-out maximum
struct SweepAxis {
  std::string label;  // "geom_friction", "push", "action_delay"; "body_mass:torso" where the
                      // spec has two terms of one parameter
  enum class Kind { kValue, kHalfWidth, kDelay } kind = Kind::kValue;
  int term = -1;                      // index into SceneSpec::randomize (kValue, kHalfWidth)
  double train_lo = 0, train_hi = 0;  // the training range, on the axis's scale
  std::vector<double> values;         // the grid
};
// The axes of `spec` with `points` values each (delays: every whole step); none without
// held-out ranges.
std::vector<SweepAxis> sweep_axes(const SceneSpec& spec, int points);
// The spec with no randomization (as kNone) except the axis held at `value`; [corruption] stays,
// except on the delay axis, whose delay is `value` steps.
SceneSpec at_sweep_point(const SceneSpec& spec, const SweepAxis& axis, double value);

// Parse a spec file, or a spec text (`name` stands for the file in errors).
SceneSpec load_scene(const std::filesystem::path& file);
SceneSpec parse_scene(const std::string& text, const std::filesystem::path& name);

// A scene name ("cartpole-balance": found on the scene path) or a path to a spec file.
std::filesystem::path resolve_scene(const std::string& name_or_path);
// Where built-in specs live: $SIMLAB_SCENE_DIR if set, else scenes/specs of the source tree.
std::filesystem::path scene_dir();
// The built-in scenes: scene_dir()/*.toml, sorted by name.
std::vector<std::filesystem::path> builtin_scenes();
// The folders scene names are looked up in, first match wins: $SIMLAB_SCENE_PATH's folders
// (colon-separated, as PATH), then the built-ins' scene_dir().
std::vector<std::filesystem::path> scene_path();
// Every scene a name can reach, in scene_path() order, each folder's sorted by name.
struct SceneEntry {
  std::string name;
  std::filesystem::path file;
  bool builtin = false;   // from scene_dir()
  bool shadowed = false;  // an earlier folder has a scene of the same name
};
std::vector<SceneEntry> list_scenes();

// A scene ready to run: its structural variants (compiled models with their tasks and
// randomizers) and the VectorEnv configuration (frame skip, episode length, reset, corruption).
// Term errors (an unknown joint, a control rate the model's timestep cannot divide) name the
// spec's file, line and key.
struct Scene {
  SceneSpec spec;
  std::vector<engine::EnvVariant> variants;             // env i runs variants[i % variants.size()]
  std::vector<std::string> variant_summary;             // what was generated, one line per variant
  std::vector<engine::physics::ModelSource> sources;    // what each variant was compiled from
  std::shared_ptr<const engine::physics::Model> model;  // variants[0].model
  // num_envs, num_threads and seed are left for the caller; task and randomize are variant 0's,
  // so that a single-variant scene also runs with VectorEnv(scene.model, scene.config).
  engine::VectorEnvConfig config;
  // The physics engine that compiled the variants and steps them: the same MJCF/URDF runs on both.
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  double compile_seconds = 0;  // generating and compiling the variants
};
struct CompileOptions {
  std::uint64_t seed = 0;  // keys the procedural content of every variant
  int max_variants = 0;    // how many variants to generate (e.g. the number of envs); 0: all
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
};
Scene compile_scene(const SceneSpec& spec, const CompileOptions& options);
// On MuJoCo.
Scene compile_scene(const SceneSpec& spec, std::uint64_t seed = 0, int max_variants = 0);
// The whole pipeline from a name: resolve_scene, load_scene, with_randomization, compile_scene.
Scene build_scene(const std::string& name_or_path, Randomization randomization,
                  const CompileOptions& options);

// Every variant's compiled model, in variant order (what a renderer for the scene is made from).
std::vector<std::shared_ptr<const engine::physics::Model>> variant_models(const Scene& scene);

// An Error naming the spec's file (and `field`) when the scene has no action dimensions: a model
// without actuators leaves nothing for a policy to control.
void require_actions(const Scene& scene, const std::string& field = "scene");

// The envs of a scene: num_envs envs over its variants, with the caller's threads and seed.
// `snapshots`: the envs keep their running episodes' actions, for VectorEnv::snapshot().
// `action_repeat`: control steps per step() (VectorEnvConfig::action_repeat); `batch_size`: envs
// per recv() (0: all).
std::unique_ptr<engine::VectorEnv> make_env(const Scene& scene, int num_envs, int num_threads = 0,
                                            std::uint64_t seed = 0, bool snapshots = false,
                                            int action_repeat = 1, int batch_size = 0);

// Camera `camera` of the scene for env `env` of a run with `seed`, which runs `world` (of the
// env's variant): tracked bodies are read from the world.
CameraView camera_view(const Scene& scene, int camera, const engine::physics::World& world, int env,
                       std::uint64_t seed);
// The index of the scene camera named `name`, or an Error listing the scene's cameras.
int find_camera(const SceneSpec& spec, const std::string& name);

// A parameter as a spec names it: "body_mass", or "body_com.x" for one axis of a vector.
std::string param_label(engine::physics::Param param);

// One parameter of a world that differs from its compiled model: randomization's work.
struct ParamChange {
  engine::physics::Param param;
  int index;            // the element
  std::string element;  // its name
  double value, model_value;
};
// Every such parameter of `world` (which runs `model`), in Param then element order.
std::vector<ParamChange> randomized_params(const engine::physics::Model& model,
                                           const engine::physics::World& world);

// The closest of `candidates` to `word` within a small edit distance, or "" if none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace simlab::scenes
