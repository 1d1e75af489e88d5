// simlab scenes: list the built-in scenes and check spec files.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

// Every scene a name reaches: SIMLAB_SCENE_PATH's folders first, then the built-ins.
void list_scenes() {
  const auto entries = scenes::list_scenes();
  std::printf("%zu scenes (built-ins in %s", entries.size(), scenes::scene_dir().c_str());
  const auto path = scenes::scene_path();
  if (path.size() > 1) std::printf("; SIMLAB_SCENE_PATH first");
  std::printf("):\n");
  for (const auto& e : entries) {
    const auto spec = scenes::load_scene(e.file);
    const std::string from = e.builtin ? "built-in" : "from " + e.file.parent_path().string();
    std::printf("  %-20s %s  [%s%s]\n", e.name.c_str(), spec.description.c_str(), from.c_str(),
                e.shadowed ? "; shadowed by the one above" : "");
  }
}

// Another engine against MuJoCo on the scene's robot: where it comes to rest with zero controls,
// from the reset keyframe without noise, and how far apart the two are.
void print_rest_comparison(const app::RunSpec& run, const scenes::Scene& scene) {
  constexpr double kSeconds = 3.0;
  auto mujoco_run = run;
  mujoco_run.backend = engine::physics::BackendKind::kMuJoCo;
  const auto reference = app::build_scene(mujoco_run);
  const auto a = engine::physics::settle(*reference.model, reference.config.reset, kSeconds);
  const auto b = engine::physics::settle(*scene.model, scene.config.reset, kSeconds);
  auto settled = [](const engine::physics::RestState& r) {
    char text[32];
    std::snprintf(text, sizeof(text), "in %.2f s", r.settle_seconds);
    return r.settle_seconds < 0 ? std::string("not settled") : std::string(text);
  };
  const char* other = engine::physics::backend_name(scene.backend);
  std::printf("  rest       %s after %g s of zero controls, MuJoCo against %s:\n", a.body.c_str(),
              kSeconds, other);
  std::printf(
      "               height %.4f m against %.4f m (%+.1f mm); tilt %.1f against %.1f deg\n",
      a.height, b.height, 1000 * (b.height - a.height), a.pitch_deg, b.pitch_deg);
  std::printf("               %s against %s; contacts %d against %d%s%s\n", settled(a).c_str(),
              settled(b).c_str(), a.contacts, b.contacts, b.diverged_steps ? "; diverged on " : "",
              b.diverged_steps ? other : "");
  const double gap = std::abs(b.height - a.height);
  std::printf("               %s\n",
              gap <= 0.01 ? "the engines agree within 1 cm"
                          : "the engines DIFFER by more than 1 cm: see README, \"Engines that "
                            "agree\", for what each engine does differently");
}

// Parse, compile, and step a few envs with random actions: what a user wants to know before a
// long run is that the spec loads, what it compiles to, and that rewards come out finite.
void check_scene(const std::string& name_or_path, engine::physics::BackendKind backend) {
  constexpr int kEnvs = 4, kSteps = 50;
  const app::RunSpec run{.scene = name_or_path, .backend = backend, .envs = kEnvs, .threads = 1};
  const auto path = scenes::resolve_scene(name_or_path);
  const auto scene = app::build_scene(run);
  const auto& info = scene.model->info();
  auto env = app::make_envs(run, scene);
  std::printf("%s: ok\n", path.c_str());
  std::printf("  scene      %s: %s\n", scene.spec.name.c_str(), scene.spec.description.c_str());
  std::printf("  model      %s (nq %d, nv %d, nu %d, timestep %g s) on %s\n",
              scene.spec.model.c_str(), info.nq, info.nv, info.nu, info.timestep,
              engine::physics::backend_name(scene.backend));
  std::printf("  control    %g Hz (frame skip %d), episodes of %d steps\n", scene.spec.control_hz,
              scene.config.frame_skip, scene.config.max_episode_steps);
  std::printf("  spaces     observation %d, action %d\n", env->observation_space().dim(),
              env->action_space().dim());
  std::printf("  memory     %.3f MB world state per env: %s\n",
              static_cast<double>(env->world_bytes_per_env()) / 1e6,
              engine::physics::describe_arena(info.arena).c_str());
  if (!scene.spec.procedural.empty())
    std::printf("  variants   %zu structures, compiled in %.2f s (variant 0: %s)\n",
                scene.variants.size(), scene.compile_seconds, scene.variant_summary[0].c_str());
  std::printf("  terms      %zu observation, %zu reward, %zu termination, %zu randomization\n",
              scene.spec.observations.size(), scene.spec.rewards.size(),
              scene.spec.terminations.size(), scene.spec.randomize.size());

  if (scene.backend != engine::physics::BackendKind::kMuJoCo) print_rest_comparison(run, scene);

  const int act_dim = info.action.dim();
  std::vector<float> actions(kEnvs * act_dim);
  engine::Rng rng(0, 0, 0);
  double total = 0;
  for (int s = 0; s < kSteps; ++s) {
    for (auto& a : actions)
      a = static_cast<float>(rng.uniform(-1.0, 1.0));
    const auto& b = env->step(actions);
    for (int e = 0; e < kEnvs; ++e)
      total += b.reward(e, 0);
  }
  const auto stats = env->stats();
  std::printf(
      "  smoke run  %d envs x %d random steps: mean reward %.4f, %llu episodes ended, "
      "%llu diverged, %llu overflowed\n",
      kEnvs, kSteps, total / (kEnvs * kSteps), static_cast<unsigned long long>(stats.episodes),
      static_cast<unsigned long long>(stats.diverged),
      static_cast<unsigned long long>(stats.overflows));
}

struct ShowOptions {
  std::string scene;
  std::uint64_t seed = 0;
  int env = 0;
  scenes::Randomization randomization = scenes::Randomization::kTrain;
  std::string emit_mjcf;
};

std::string range_text(double a, double b, bool gaussian) {
  char buf[96];
  std::snprintf(buf, sizeof buf, gaussian ? "N(%g, %g)" : "[%g, %g]", a, b);
  return buf;
}

// Every [[randomize]] term with its training range and held-out range, and the action delays.
void print_ranges(const scenes::SceneSpec& spec) {
  if (spec.randomize.empty() && spec.action_delay_max == 0 && spec.heldout_delay_min < 0) return;
  std::printf("  randomization (training range -> held-out range):\n");
  for (const auto& t : spec.randomize) {
    std::string targets;
    for (const auto& name : t.targets)
      targets += (targets.empty() ? "" : ",") + name;
    const bool gaussian = t.distribution == scenes::RandomizeSpec::Distribution::kGaussian;
    std::printf("    %-22s %-16s %-18s -> %s\n", t.param_name.c_str(), targets.c_str(),
                range_text(t.a, t.b, gaussian).c_str(),
                t.has_heldout ? range_text(t.heldout_a, t.heldout_b, gaussian).c_str() : "(same)");
  }
  if (spec.action_delay_max > 0 || spec.heldout_delay_min >= 0)
    std::printf("    %-22s %-16s %-18s -> %s\n", "action_delay (steps)", "",
                range_text(spec.action_delay_min, spec.action_delay_max, false).c_str(),
                spec.heldout_delay_min >= 0
                    ? range_text(spec.heldout_delay_min, spec.heldout_delay_max, false).c_str()
                    : "(same)");
}

// One env as a VectorEnv of any size would run it: its variant, what was generated, the
// parameters randomization changed at the start of episode 0, and its first observation.
void show_scene(const ShowOptions& o) {
  if (o.env < 0) throw Error(SourceLocation{.field = "--env"}, "must be >= 0");
  const app::RunSpec run{.scene = o.scene, .randomization = o.randomization, .seed = o.seed};
  const auto declared = scenes::load_scene(scenes::resolve_scene(o.scene));
  const auto spec = scenes::with_randomization(declared, o.randomization);
  const auto scene = app::build_scene(run, spec);
  const int v = o.env % static_cast<int>(scene.variants.size());
  const auto& variant = scene.variants[v];
  auto config = scene.config;
  config.seed = o.seed;
  auto world = engine::make_env_world(variant, config, o.env);
  engine::start_episode(*world, variant, config, o.env, 0);

  std::printf("%s, seed %llu, env %d: variant %d of %zu, randomization %s\n", spec.name.c_str(),
              static_cast<unsigned long long>(o.seed), o.env, v, scene.variants.size(),
              scenes::randomization_name(o.randomization));
  print_ranges(declared);
  if (!spec.procedural.empty()) std::printf("  generated  %s\n", scene.variant_summary[v].c_str());
  const auto& model = *variant.model;
  const auto changes = scenes::randomized_params(model, *world);
  if (!changes.empty()) std::printf("  randomized (episode 0):\n");
  for (const auto& c : changes)
    std::printf("    %-22s %-16s %12.6g   (model %.6g)\n", scenes::param_label(c.param).c_str(),
                c.element.c_str(), c.value, c.model_value);
  if (changes.empty()) std::printf("  randomized nothing: this env shares the compiled model\n");
  std::vector<float> obs(static_cast<std::size_t>(
      variant.task.observe ? variant.task.observation.dim() : model.info().observation.dim()));
  if (variant.task.observe)
    variant.task.observe(*world, obs);
  else
    world->observe(obs);
  const auto& names =
      variant.task.observe ? variant.task.observation.names() : model.info().observation.names();
  std::printf("  first observation (%zu, before noise):\n", obs.size());
  for (std::size_t k = 0; k < obs.size(); ++k)
    std::printf("    %-32s %10.5f\n", names[k].c_str(), obs[k]);
  if (!o.emit_mjcf.empty()) {
    engine::physics::write_mjcf(scene.sources[v], *world, o.emit_mjcf);
    std::printf("wrote %s: the compiled model of this env, with its randomized parameters\n",
                o.emit_mjcf.c_str());
  }
}

}  // namespace

void add_scenes_command(CLI::App& app) {
  auto* scenes = app.add_subcommand("scenes", "Built-in scenes and scene spec files");
  scenes->require_subcommand(1);
  scenes->add_subcommand("list", "List the built-in scenes")->callback(list_scenes);
  auto* check = scenes->add_subcommand(
      "check", "Validate a scene spec (a file, or a built-in name): parse, compile, smoke-run");
  auto target = std::make_shared<std::string>();
  auto check_backend = std::make_shared<engine::physics::BackendKind>();
  check->add_option("scene", *target, "Spec file or built-in scene name")->required();
  add_backend_option(*check, *check_backend);
  check->callback([target, check_backend] { check_scene(*target, *check_backend); });

  auto show_options = std::make_shared<ShowOptions>();
  auto* show = scenes->add_subcommand(
      "show",
      "Show one env of a scene as a run would make it: its structural variant, generated\n"
      "content, randomized parameters and first observation; --emit-mjcf writes its model");
  show->add_option("scene", show_options->scene, "Spec file or built-in scene name")->required();
  show->add_option("--seed", show_options->seed, "Seed of the run")->capture_default_str();
  show->add_option("--env", show_options->env, "Env index (variant = env % variants)")
      ->capture_default_str();
  add_randomization_option(*show, show_options->randomization,
                           "train (the training ranges), heldout (the held-out ranges) or none");
  show->add_option("--emit-mjcf", show_options->emit_mjcf,
                   "Write the env's compiled model (MJCF, randomized values) to this file");
  show->callback([show_options] { show_scene(*show_options); });
}

}  // namespace simlab::tools
