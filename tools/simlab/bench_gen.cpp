// simlab bench gen: what writing a dataset costs the simulation. In one run, on the same scene,
// episodes and policy: env-steps/s of the rollout alone (episodes recorded, then dropped) and with
// the writer thread writing them to HDF5 (shard assembly and fsync included), for state-only
// observations and for state plus 64x64 RGB; bytes per step on disk. Phases alternate and each
// keeps its best repeat.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/io/pipeline.h"
#include "engine/io/shard.h"
#include "tools/app/gen_job.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

namespace fs = std::filesystem;
namespace io = engine::io;
using nlohmann::json;

struct Options {
  app::GenOptions gen;
  int repeats = 2;
  bool no_images = false;
  std::string out;
  bool json = false;
};

struct Phase {
  double rate = 0;  // env-steps/s, best repeat
  double seconds = 0;
  std::int64_t steps = 0;
  std::uintmax_t bytes = 0;
  double writer_busy = 0, writer_cpu = 0, backpressure = 0;
  double finish_seconds = 0;  // assembling the shard from its parts, after the simulation
};

Phase run_phase(const app::GenSpec& spec, const std::vector<std::int64_t>& todo,
                const fs::path* out) {
  Phase p;
  const auto t0 = std::chrono::steady_clock::now();
  if (!out) {
    const auto s = app::simulate(
        spec, todo, [](std::unique_ptr<io::Episode>) {}, nullptr);
    p.steps = s.env_steps;
  } else {
    io::ShardStore store(*out, io::Shard{}, spec.layout, spec.env_args, spec.job, SIMLAB_VERSION,
                         16);
    store.open(io::Existing::kOverwrite);
    io::BackgroundWriter writer(std::size_t{256} << 20,
                                [&store](std::unique_ptr<io::Episode> e) { store.write(*e); });
    const auto s = app::simulate(
        spec, todo, [&writer](std::unique_ptr<io::Episode> e) { writer.push(std::move(e)); },
        nullptr);
    writer.finish();
    const auto tf = std::chrono::steady_clock::now();
    const auto record = store.finish();
    p.finish_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tf).count();
    p.steps = s.env_steps;
    p.bytes = record.bytes;
    p.writer_busy = writer.busy_seconds();
    p.writer_cpu = writer.cpu_seconds();
    p.backpressure = writer.queue().blocked_seconds();
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  p.rate = p.steps / p.seconds;
  return p;
}

void run_bench_gen(const Options& o) {
  if (o.repeats < 1) throw Error(SourceLocation{.field = "--repeats"}, "must be >= 1");
  const fs::path dir =
      o.out.empty() ? fs::temp_directory_path() / ("simlab-bench-gen-" + std::to_string(::getpid()))
                    : fs::path(o.out);
  std::vector<std::string> modes = {"state"};
#ifdef SIMLAB_HAS_RENDER
  if (!o.no_images) modes.push_back("state,rgb");
#endif
  json results = json::array();
  for (const auto& mode : modes) {
    app::GenOptions g = o.gen;
    g.obs = mode;
    const app::GenSpec spec = app::prepare_gen(g);
    std::vector<std::int64_t> todo;
    for (std::int64_t k = 0; k < g.episodes; ++k)
      todo.push_back(k);
    Phase sim, write;
    for (int r = 0; r < o.repeats; ++r) {
      const Phase a = run_phase(spec, todo, nullptr);
      const Phase b = run_phase(spec, todo, &dir);
      if (a.rate > sim.rate) sim = a;
      if (b.rate > write.rate) write = b;
    }
    const double ratio = write.rate / sim.rate;
    results.push_back({{"obs", mode},
                       {"env_steps", sim.steps},
                       {"sim_env_steps_per_s", sim.rate},
                       {"write_env_steps_per_s", write.rate},
                       {"ratio", ratio},
                       {"write_cost", 1 - ratio},
                       {"bytes", write.bytes},
                       {"bytes_per_step", write.steps ? double(write.bytes) / write.steps : 0.0},
                       {"writer_busy_seconds", write.writer_busy},
                       {"writer_cpu_seconds", write.writer_cpu},
                       {"writer_cpu_us_per_step", 1e6 * write.writer_cpu / write.steps},
                       {"backpressure_seconds", write.backpressure},
                       {"assembly_seconds", write.finish_seconds},
                       {"seconds", write.seconds},
                       {"target_met", 1 - ratio <= 0.10}});
  }
  if (o.out.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  json j = {{"scene", o.gen.run.scene},
            {"envs", o.gen.run.envs},
            {"episodes", o.gen.episodes},
            {"threads", o.gen.run.threads},
            {"res", o.gen.res},
            {"compression", o.gen.compression},
            {"repeats", o.repeats},
            {"target_write_cost", 0.10},
            {"modes", results}};
  const bool mujoco = o.gen.run.backend == engine::physics::BackendKind::kMuJoCo;
  if (!mujoco) j["backend"] = engine::physics::backend_name(o.gen.run.backend);
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf(
      "simlab bench gen: %s%s, %lld episodes, %d envs, %d threads, deflate %d, best of %d\n",
      o.gen.run.scene.c_str(),
      mujoco ? ""
             : (std::string(" on ") + engine::physics::backend_name(o.gen.run.backend)).c_str(),
      static_cast<long long>(o.gen.episodes), o.gen.run.envs, o.gen.run.threads, o.gen.compression,
      o.repeats);
  for (const auto& r : results)
    std::printf(
        "  %-10s %8lld steps: simulation %9.0f env-steps/s, with writing %9.0f env-steps/s: "
        "ratio %.3f, cost %+.1f%% (target <= 10%%: %s); %.0f B/step on disk; writer thread %.2f s "
        "CPU (%.1f us/step), simulation waited %.2f s; shard assembly %.2f of %.2f s\n",
        r["obs"].get<std::string>().c_str(), r["env_steps"].get<long long>(),
        r["sim_env_steps_per_s"].get<double>(), r["write_env_steps_per_s"].get<double>(),
        r["ratio"].get<double>(), 100 * r["write_cost"].get<double>(),
        r["target_met"].get<bool>() ? "met" : "NOT met", r["bytes_per_step"].get<double>(),
        r["writer_cpu_seconds"].get<double>(), r["writer_cpu_us_per_step"].get<double>(),
        r["backpressure_seconds"].get<double>(), r["assembly_seconds"].get<double>(),
        r["seconds"].get<double>());
}

}  // namespace

void add_bench_gen_command(CLI::App& bench) {
  auto o = std::make_shared<Options>();
  o->gen.run.scene = "push";
  o->gen.episodes = 32;
  auto* cmd = bench.add_subcommand(
      "gen",
      "Env-steps/s of dataset generation with and without writing (state-only and with RGB),\n"
      "and bytes per step on disk, measured in the same run");
  cmd->add_option("--scene", o->gen.run.scene, "Built-in scene name or spec file")
      ->capture_default_str();
  cmd->add_option("--envs", o->gen.run.envs, "Episodes simulated at once")->capture_default_str();
  cmd->add_option("--episodes", o->gen.episodes, "Episodes per phase")->capture_default_str();
  cmd->add_option("--max-steps", o->gen.max_steps, "Cap on episode length (0: the scene's)")
      ->capture_default_str();
  cmd->add_option("--res", o->gen.res, "RGB resolution")->capture_default_str();
  cmd->add_option("--threads", o->gen.run.threads, "Simulation threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--seed", o->gen.run.seed, "Seed")->capture_default_str();
  add_backend_option(*cmd, o->gen.run.backend);
  cmd->add_option("--compression", o->gen.compression, "Deflate level 0-9")->capture_default_str();
  cmd->add_option("--repeats", o->repeats, "Repeats of each phase; the fastest is kept")
      ->capture_default_str();
  cmd->add_flag("--no-images", o->no_images, "State-only phases alone");
  cmd->add_option("--out", o->out, "Write here and keep the files (default: a temporary folder)");
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_gen(*o); });
}

}  // namespace simlab::tools
