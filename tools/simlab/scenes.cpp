// simlab scenes: list the built-in scenes and check spec files.
#include <cstdio>
#include <vector>

#include "engine/core/rng.h"
#include "scenes/scene.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

void list_scenes() {
  const auto files = scenes::builtin_scenes();
  std::printf("%zu built-in scenes (in %s):\n", files.size(), scenes::scene_dir().c_str());
  for (const auto& file : files) {
    const auto spec = scenes::load_scene(file);
    std::printf("  %-20s %s\n", spec.name.c_str(), spec.description.c_str());
  }
}

// Parse, compile, and step a few envs with random actions: what a user wants to know before a
// long run is that the spec loads, what it compiles to, and that rewards come out finite.
void check_scene(const std::string& name_or_path) {
  const auto path = scenes::resolve_scene(name_or_path);
  auto scene = scenes::compile_scene(scenes::load_scene(path));
  const auto& info = scene.model->info();
  std::printf("%s: ok\n", path.c_str());
  std::printf("  scene      %s: %s\n", scene.spec.name.c_str(), scene.spec.description.c_str());
  std::printf("  model      %s (nq %d, nv %d, nu %d, timestep %g s)\n", scene.spec.model.c_str(),
              info.nq, info.nv, info.nu, info.timestep);
  std::printf("  control    %g Hz (frame skip %d), episodes of %d steps\n", scene.spec.control_hz,
              scene.config.frame_skip, scene.config.max_episode_steps);
  std::printf("  spaces     observation %d, action %d\n", info.observation.dim(),
              info.action.dim());
  std::printf("  terms      %zu reward, %zu termination\n", scene.spec.rewards.size(),
              scene.spec.terminations.size());

  constexpr int kEnvs = 4, kSteps = 50;
  scene.config.num_envs = kEnvs;
  scene.config.num_threads = 1;
  engine::VectorEnv env(scene.model, scene.config);
  const int act_dim = info.action.dim();
  std::vector<float> actions(kEnvs * act_dim);
  engine::Rng rng(0, 0, 0);
  double total = 0;
  for (int s = 0; s < kSteps; ++s) {
    for (auto& a : actions)
      a = static_cast<float>(rng.uniform(-1.0, 1.0));
    const auto& b = env.step(actions);
    for (int e = 0; e < kEnvs; ++e)
      total += b.reward(e, 0);
  }
  const auto stats = env.stats();
  std::printf(
      "  smoke run  %d envs x %d random steps: mean reward %.4f, %llu episodes ended, "
      "%llu diverged\n",
      kEnvs, kSteps, total / (kEnvs * kSteps), static_cast<unsigned long long>(stats.episodes),
      static_cast<unsigned long long>(stats.diverged));
}

}  // namespace

void add_scenes_command(CLI::App& app) {
  auto* scenes = app.add_subcommand("scenes", "Built-in scenes and scene spec files");
  scenes->require_subcommand(1);
  scenes->add_subcommand("list", "List the built-in scenes")->callback(list_scenes);
  auto* check = scenes->add_subcommand(
      "check", "Validate a scene spec (a file, or a built-in name): parse, compile, smoke-run");
  auto target = std::make_shared<std::string>();
  check->add_option("scene", *target, "Spec file or built-in scene name")->required();
  check->callback([target] { check_scene(*target); });
}

}  // namespace simlab::tools
