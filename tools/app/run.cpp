#include "tools/app/run.h"

#include <string>

#include "engine/core/error.h"

namespace simlab::app {
namespace {

void check(const RunSpec& run) {
  auto bad = [](const char* field, const std::string& what) {
    return Error(SourceLocation{.field = field}, what);
  };
  if (run.scene.empty())
    throw bad("scene", "required: a built-in scene name or a spec file (see `simlab scenes list`)");
  if (run.envs < 1) throw bad("envs", "must be >= 1, got " + std::to_string(run.envs));
  if (run.threads < 0)
    throw bad("threads", "must be >= 0 (0: every core), got " + std::to_string(run.threads));
  if (run.max_variants < 0)
    throw bad("max_variants", "must be >= 0, got " + std::to_string(run.max_variants));
}

}  // namespace

scenes::SceneSpec load_spec(const RunSpec& run) {
  check(run);
  return scenes::with_randomization(scenes::load_scene(scenes::resolve_scene(run.scene)),
                                    run.randomization);
}

scenes::Scene build_scene(const RunSpec& run, const scenes::SceneSpec& spec) {
  check(run);
  return scenes::compile_scene(
      spec, {.seed = run.seed, .max_variants = run.max_variants, .backend = run.backend});
}

scenes::Scene build_scene(const RunSpec& run) {
  return build_scene(run, load_spec(run));
}

std::unique_ptr<engine::VectorEnv> make_envs(const RunSpec& run, const scenes::Scene& scene,
                                             EnvOptions options) {
  check(run);
  return scenes::make_env(scene, run.envs, run.threads, run.seed, options.snapshots,
                          options.action_repeat, options.batch_size);
}

engine::VectorEnvConfig episode_config(const RunSpec& run, const scenes::Scene& scene) {
  auto config = scene.config;
  config.seed = run.seed;
  config.num_envs = 1;
  config.num_threads = 1;
  return config;
}

}  // namespace simlab::app
