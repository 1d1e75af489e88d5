// simlab bench spinup: how long a heterogeneous scene takes from its spec to N envs ready to step.
//
// In one run: parse the spec, generate and compile its structural variants (each once, shared by
// every env that runs it), then make N envs (their worlds, startup randomization, first reset).
// Reported: seconds per phase, variants/s, envs/s, and memory per env (world state, batch rows and
// the shared models' share; resident memory growth as the operating system sees it).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
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
  std::string baseline;  // a second scene measured in the same run, for ratios
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

// One scene's spin-up, measured.
struct Spinup {
  std::string name;
  int variants = 0, threads = 0;
  double parse_s = 0, compile_s = 0, envs_s = 0, total_s = 0;
  std::size_t world = 0, batch = 0, model_bytes = 0, rss_models = 0;
  double per_env = 0, rss_per_env = 0;
  engine::physics::ArenaInfo arena;  // variant 0's
};

Spinup measure_spinup(const std::string& scene_name, const Options& o) {
  Spinup m;
  const std::size_t rss_before = resident_bytes();
  const auto start = std::chrono::steady_clock::now();
  app::RunSpec run{.scene = scene_name,
                   .backend = o.backend,
                   .seed = o.seed,
                   .envs = o.envs,
                   .threads = o.threads};
  const auto spec = app::load_spec(run);
  m.name = spec.name;
  m.parse_s = since(start);

  auto t = std::chrono::steady_clock::now();
  // No more variants than envs to run them.
  run.max_variants = std::min(o.variants > 0 ? o.variants : spec.procedural.variants, o.envs);
  const auto scene = app::build_scene(run, spec);
  m.compile_s = since(t);
  const std::size_t rss_models = resident_bytes();

  t = std::chrono::steady_clock::now();
  auto env = app::make_envs(run, scene);
  m.envs_s = since(t);
  m.total_s = since(start);
  const std::size_t rss_after = resident_bytes();

  m.variants = static_cast<int>(scene.variants.size());
  m.threads = env->num_threads();
  for (const auto& v : scene.variants)
    m.model_bytes += v.model->info().model_bytes;
  m.arena = scene.model->info().arena;
  m.world = env->world_bytes_per_env();
  m.batch = env->batch_bytes_per_env();
  m.per_env = static_cast<double>(m.world + m.batch) + static_cast<double>(m.model_bytes) / o.envs;
  m.rss_per_env = static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0) / o.envs;
  m.rss_models = rss_models > rss_before ? rss_models - rss_before : 0;
  return m;
}

nlohmann::json spinup_json(const Spinup& m, int envs) {
  return {{"scene", m.name},
          {"envs", envs},
          {"threads", m.threads},
          {"variants", m.variants},
          {"seconds_total", m.total_s},
          {"seconds_parse", m.parse_s},
          {"seconds_variants", m.compile_s},
          {"seconds_envs", m.envs_s},
          {"variants_per_s", m.variants / m.compile_s},
          {"envs_per_s", envs / m.envs_s},
          {"bytes_per_env", m.per_env},
          {"bytes_world_per_env", m.world},
          {"bytes_batch_per_env", m.batch},
          {"bytes_models_shared", m.model_bytes},
          {"bytes_resident_per_env", m.rss_per_env},
          {"bytes_resident_models", m.rss_models},
          {"arena", engine::physics::describe_arena(m.arena)}};
}

void print_spinup(const Spinup& m, const Options& o) {
  std::printf("simlab bench spinup: %s%s, %d envs over %d structural variants, %d threads\n",
              m.name.c_str(),
              o.backend == engine::physics::BackendKind::kMuJoCo
                  ? ""
                  : (std::string(" on ") + engine::physics::backend_name(o.backend)).c_str(),
              o.envs, m.variants, m.threads);
  std::printf("  %-28s %8.3f s\n", "parse spec", m.parse_s);
  std::printf("  %-28s %8.3f s   %8.1f variants/s (each compiled once, shared)\n",
              "generate + compile variants", m.compile_s, m.variants / m.compile_s);
  std::printf("  %-28s %8.3f s   %8.0f envs/s\n", "make envs + first reset", m.envs_s,
              o.envs / m.envs_s);
  const bool met = m.total_s <= 3.0 && m.variants >= std::min(64, o.envs);
  std::printf("  %-28s %8.3f s   (target <= 3 s with >= 64 variants: %s)\n", "total", m.total_s,
              met ? "met" : "NOT met");
  std::printf(
      "  memory per env: %.0f B (%zu B world state + %zu B batch rows + %.0f B share of %zu B "
      "models); resident growth %.0f B/env\n",
      m.per_env, m.world, m.batch, static_cast<double>(m.model_bytes) / o.envs, m.model_bytes,
      m.rss_per_env);
  std::printf("  arena: %s\n", engine::physics::describe_arena(m.arena).c_str());
}

void run_bench_spinup(const Options& o) {
  if (o.envs < 1) throw Error(SourceLocation{.field = "--envs"}, "must be >= 1");
  if (o.variants < 0) throw Error(SourceLocation{.field = "--variants"}, "must be >= 0");
  const Spinup m = measure_spinup(o.scene, o);
  nlohmann::json j = spinup_json(m, o.envs);
  j["target_seconds"] = 3.0;
  j["target_met"] = m.total_s <= 3.0 && m.variants >= std::min(64, o.envs);
  if (o.backend != engine::physics::BackendKind::kMuJoCo)
    j["backend"] = engine::physics::backend_name(o.backend);
  std::optional<Spinup> base;
  if (!o.baseline.empty()) {
    base = measure_spinup(o.baseline, o);  // after the scene's envs are gone: same process, run
    j["baseline"] = spinup_json(*base, o.envs);
    j["vs_baseline"] = {{"seconds_total", m.total_s / base->total_s},
                        {"bytes_per_env", m.per_env / base->per_env}};
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  print_spinup(m, o);
  if (base) {
    print_spinup(*base, o);
    std::printf("  %s against %s: %.2f x the time, %.2f x the memory per env\n", m.name.c_str(),
                base->name.c_str(), m.total_s / base->total_s, m.per_env / base->per_env);
  }
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
  cmd->add_option("--baseline", o->baseline,
                  "A second scene measured in the same run; prints time and memory ratios\n"
                  "against it (e.g. --scene cheetah-run --baseline quadruped)");
  add_backend_option(*cmd, o->backend);
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_spinup(*o); });
}

}  // namespace simlab::tools
