// The application layer: what the CLI (tools/simlab) and the Python package share. A front end
// turns its arguments into a RunSpec (typed: enums, not words) and gets from it everything a
// command runs on, written once here:
//
//   RunSpec{scene, randomization, backend, seed, envs, threads}
//     -> load_spec     the scene spec under its randomization (train | heldout | none)
//     -> build_scene   compiled on the chosen physics engine (variants, tasks, randomizers)
//     -> make_envs     a VectorEnv of `envs` envs on `threads` threads
//     -> episode_config  what EpisodeRollout k needs (episode k of the seed, no auto-reset)
//     -> camera        a scene camera of env k, as the renderer takes it (tools/app/camera.h)
//
// Libraries name fields in their errors ("envs: must be >= 1"); a front end says which of its
// flags or arguments a field came from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/physics/backend.h"
#include "engine/vector_env.h"
#include "scenes/scene.h"

namespace simlab::app {

struct RunSpec {
  std::string scene = "cartpole-balance";  // a built-in scene name or a spec file
  scenes::Randomization randomization = scenes::Randomization::kTrain;
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  std::uint64_t seed = 0;  // procedural content, randomization, noise (and the policy's draws)
  int envs = 1;            // envs at once
  int threads = 0;         // simulation threads; 0: every core
  int max_variants = 0;    // procedural variants to generate; 0: the spec's count
};

// The spec the run uses: the scene resolved (a built-in name or a file) and read, with its
// randomization applied. Errors name the spec's file, line and key, or the field `scene`.
scenes::SceneSpec load_spec(const RunSpec& run);
// The scene compiled for the run: `spec` (from load_spec, possibly adjusted by the caller) on the
// run's physics engine, its procedural content keyed by the run's seed.
scenes::Scene build_scene(const RunSpec& run, const scenes::SceneSpec& spec);
scenes::Scene build_scene(const RunSpec& run);

struct EnvOptions {
  bool snapshots = false;  // keep each env's running episode (VectorEnv::snapshot)
  int action_repeat = 1;   // control steps per step()
  int batch_size = 0;      // envs per recv() (async); 0: all
};
// run.envs envs of `scene` on run.threads threads, seeded with run.seed.
std::unique_ptr<engine::VectorEnv> make_envs(const RunSpec& run, const scenes::Scene& scene,
                                             EnvOptions options = {});
// The configuration episode rollouts of the run share: EpisodeRollout(scene.variants, config, k)
// is episode k, the first episode of env k of make_envs' VectorEnv.
engine::VectorEnvConfig episode_config(const RunSpec& run, const scenes::Scene& scene);

}  // namespace simlab::app
