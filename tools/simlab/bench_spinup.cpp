// simlab bench spinup: how long a heterogeneous scene takes from its spec to N envs ready to step.
//
// In one run: parse the spec, generate and compile its structural variants (each once, shared by
// every env that runs it), then make N envs (their worlds, startup randomization, first reset).
// Reported: seconds per phase, variants/s, envs/s, and memory per env (world state, batch rows and
// the shared models' share; resident memory growth as the operating system sees it).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct Options {
  std::string scene = "push";
  int envs = 4096;
  int threads = 0;
  int variants = 0;  // 0: the scene's own count
  std::uint64_t seed = 0;
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  bool json = false;
};

// Resident set size in bytes (Linux), 0 where unknown.
std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      std::size_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void run_bench_spinup(const Options& o) {
  if (o.envs < 1) throw Error(SourceLocation{.field = "--envs"}, "must be >= 1");
  if (o.variants < 0) throw Error(SourceLocation{.field = "--variants"}, "must be >= 0");
  const std::size_t rss_before = resident_bytes();
  const auto start = std::chrono::steady_clock::now();
  app::RunSpec run{
      .scene = o.scene, .backend = o.backend, .seed = o.seed, .envs = o.envs, .threads = o.threads};
  const auto spec = app::load_spec(run);
  const double parse_s = since(start);

  auto t = std::chrono::steady_clock::now();
  // No more variants than envs to run them.
  run.max_variants = std::min(o.variants > 0 ? o.variants : spec.procedural.variants, o.envs);
  const auto scene = app::build_scene(run, spec);
  const double compile_s = since(t);
  const std::size_t rss_models = resident_bytes();

  t = std::chrono::steady_clock::now();
  auto env = app::make_envs(run, scene);
  const double envs_s = since(t);
  const double total_s = since(start);
  const std::size_t rss_after = resident_bytes();

  const int variants = static_cast<int>(scene.variants.size());
  std::size_t model_bytes = 0;
  for (const auto& v : scene.variants)
    model_bytes += v.model->info().model_bytes;
  const std::size_t world = env->world_bytes_per_env(), batch = env->batch_bytes_per_env();
  const double per_env =
      static_cast<double>(world + batch) + static_cast<double>(model_bytes) / o.envs;
  const double rss_per_env =
      static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0) / o.envs;

  nlohmann::json j = {
      {"scene", spec.name},
      {"envs", o.envs},
      {"threads", env->num_threads()},
      {"variants", variants},
      {"seconds_total", total_s},
      {"seconds_parse", parse_s},
      {"seconds_variants", compile_s},
      {"seconds_envs", envs_s},
      {"variants_per_s", variants / compile_s},
      {"envs_per_s", o.envs / envs_s},
      {"bytes_per_env", per_env},
      {"bytes_world_per_env", world},
      {"bytes_batch_per_env", batch},
      {"bytes_models_shared", model_bytes},
      {"bytes_resident_per_env", rss_per_env},
      {"bytes_resident_models", rss_models > rss_before ? rss_models - rss_before : 0},
      {"target_seconds", 3.0},
      {"target_met", total_s <= 3.0 && variants >= std::min(64, o.envs)}};
  if (o.backend != engine::physics::BackendKind::kMuJoCo)
    j["backend"] = engine::physics::backend_name(o.backend);
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("simlab bench spinup: %s%s, %d envs over %d structural variants, %d threads\n",
              spec.name.c_str(),
              o.backend == engine::physics::BackendKind::kMuJoCo
                  ? ""
                  : (std::string(" on ") + engine::physics::backend_name(o.backend)).c_str(),
              o.envs, variants, env->num_threads());
  std::printf("  %-28s %8.3f s\n", "parse spec", parse_s);
  std::printf("  %-28s %8.3f s   %8.1f variants/s (each compiled once, shared)\n",
              "generate + compile variants", compile_s, variants / compile_s);
  std::printf("  %-28s %8.3f s   %8.0f envs/s\n", "make envs + first reset", envs_s,
              o.envs / envs_s);
  std::printf("  %-28s %8.3f s   (target <= 3 s with >= 64 variants: %s)\n", "total", total_s,
              j["target_met"].get<bool>() ? "met" : "NOT met");
  std::printf(
      "  memory per env: %.0f B (%zu B world state + %zu B batch rows + %.0f B share of %zu B "
      "models); resident growth %.0f B/env\n",
      per_env, world, batch, static_cast<double>(model_bytes) / o.envs, model_bytes, rss_per_env);
}

}  // namespace

void add_bench_spinup_command(CLI::App& bench) {
  auto o = std::make_shared<Options>();
  auto* cmd = bench.add_subcommand(
      "spinup",
      "Time from a scene spec to N heterogeneous envs ready to step: variant generation and\n"
      "compilation (each structure once), then the envs. Reports variants/s and memory per env.");
  cmd->add_option("--scene", o->scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option("--envs", o->envs, "Number of envs to make")->capture_default_str();
  cmd->add_option("--variants", o->variants,
                  "Structural variants to generate (0: the scene's own count)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0: all cores)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the procedural content and randomization")
      ->capture_default_str();
  add_backend_option(*cmd, o->backend);
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_spinup(*o); });
}

}  // namespace simlab::tools
