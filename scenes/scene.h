// A scene is one declarative spec file (TOML) that turns a robot model into a task:
//
//   scenes/specs/NAME.toml --load_scene--> SceneSpec --make_env_config--> engine::VectorEnvConfig
//                                         (model path, control rate, episode length, reset,
//                                          weighted reward terms, termination terms)
//
// Reward and termination terms are resolved against the compiled model's observation names once,
// then evaluated in C++ inside the batched step. Adding a task is one spec file plus its assets.
// Every error names file:line:column and the key path; unknown keys get a "did you mean".
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "engine/vector_env.h"

namespace simlab::scenes {

// One weighted term. Terms read joints by name ("joint") from the observation's qpos/qvel groups.
struct TermSpec {
  std::string term;  // reward: upright, joint_position, joint_velocity, action_l2, alive
                     // termination: joint_out_of_range
  std::string joint;
  double weight = 1.0;
  double target = 0.0;               // joint_position: the target position
  double min = -1e300, max = 1e300;  // joint_out_of_range: the allowed range
  SourceLocation where;              // for errors found after parsing
};

// One domain-randomization term: draw a value per target element and per env, at startup (once)
// or at every reset, from a distribution; use it as a factor on the model's value or as the value.
struct RandomizeSpec {
  engine::physics::Param param = engine::physics::Param::kBodyMass;
  std::string param_name;            // as written: body_mass, geom_friction, ...
  std::vector<std::string> targets;  // element names; "*" for every element
  bool at_startup = false;           // mode: startup (true) or reset (false)
  enum class Distribution {
    kUniform,
    kLogUniform,
    kGaussian
  } distribution = Distribution::kUniform;
  double a = 1, b = 1;  // uniform, log_uniform: [a, b]; gaussian: mean a, stddev b
  bool scale = true;    // operation: scale (x the model's value) or absolute
  SourceLocation where, targets_where;
};

struct SceneSpec {
  std::filesystem::path file;  // where the spec came from
  std::string name;
  std::string description;
  std::filesystem::path model;  // resolved path to the MJCF/URDF model
  double control_hz = 50;
  double episode_seconds = 10;
  engine::physics::ResetOptions reset;
  std::string reset_keyframe;  // by name; empty: the model's first keyframe
  std::vector<TermSpec> rewards;
  std::vector<TermSpec> terminations;
  std::vector<RandomizeSpec> randomize;
  SourceLocation keyframe_where, control_where;
};

// Parse a spec file, or a spec text (`name` stands for the file in errors).
SceneSpec load_scene(const std::filesystem::path& file);
SceneSpec parse_scene(const std::string& text, const std::filesystem::path& name);

// A built-in scene name ("cartpole-balance") or a path to a spec file.
std::filesystem::path resolve_scene(const std::string& name_or_path);
// Where built-in specs live: $SIMLAB_SCENE_DIR if set, else scenes/specs of the source tree.
std::filesystem::path scene_dir();
// The built-in scenes: scene_dir()/*.toml, sorted by name.
std::vector<std::filesystem::path> builtin_scenes();

// A scene ready to run: the compiled model and the VectorEnv configuration (frame skip, episode
// length, reset, and the task built from the terms). Term errors (unknown joint, a control rate the
// model's timestep cannot divide) name the spec's file, line and key.
struct Scene {
  SceneSpec spec;
  std::shared_ptr<const engine::physics::Model> model;
  engine::VectorEnvConfig config;  // num_envs, num_threads and seed are left for the caller
};
Scene compile_scene(const SceneSpec& spec);

// The closest of `candidates` to `word` within a small edit distance, or "" if none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace simlab::scenes
