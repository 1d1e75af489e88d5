// simlab bench physics: how close batched stepping comes to the physical limit.
//
// In one run, on the same model, envs, steps and actions:
//   raw      MuJoCo's plain mj_step loop on one thread over N bare mjData (no batch, no checks,
//            no resets): the physical limit per core
//   batched  VectorEnv::step on 1 thread (its bookkeeping overhead against raw) and on T threads
//            (its scaling: batched / (T x raw))
// Each phase is repeated and the fastest repeat is kept. The digest hashes every observation and
// reward of the batched runs; the 1-thread and T-thread digests must match (determinism).
//
// --backend bullet runs the same phases a second time, in the same run and on the same model or
// scene, envs, threads and actions, on the Bullet backend (its raw loop is Model::time_raw_loop of
// the Bullet model), and reports Bullet / MuJoCo for each phase. Bullet's digests must match
// between 1 and T threads too; they differ from MuJoCo's, since the physics differs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/assets.h"
#include "engine/core/error.h"
#include "engine/vector_env.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

struct Options {
  std::string model = "humanoid";
  std::string scene;  // a scene instead of a bare model: its task, episode length, randomization
  int envs = 256;
  int steps = 200;
  int threads = 0;
  int frame_skip = 1;
  int repeats = 5;
  std::uint64_t seed = 0;
  // kBullet: MuJoCo and Bullet, side by side
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  bool json = false;
};

// FNV-1a over raw bytes: a digest of a rollout that changes if any bit of it does.
struct Digest {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i)
      h = (h ^ p[i]) * 1099511628211ull;
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

// Random controls within each actuator's range ([-1, 1] where unlimited): row r is used by env i at
// step s when r == (i + s) % rows, by the raw loop and the batched runs alike.
engine::Buffer2D<float> make_ctrl_table(const engine::Space& action, std::uint64_t seed) {
  constexpr int kRows = 64;
  engine::Buffer2D<float> table(kRows, action.dim());
  engine::Rng rng(seed, 0, 0, /*stream=*/7);
  for (int r = 0; r < kRows; ++r)
    for (int a = 0; a < action.dim(); ++a) {
      const bool bounded = std::isfinite(action.low()[a]) && std::isfinite(action.high()[a]);
      table(r, a) = static_cast<float>(bounded ? rng.uniform(action.low()[a], action.high()[a])
                                               : rng.uniform(-1.0, 1.0));
    }
  return table;
}

struct BatchedRun {
  double seconds = 0;
  std::string digest;
  engine::EnvStats stats;
  std::size_t world_bytes = 0, batch_bytes = 0;
};

BatchedRun run_batched(const std::vector<engine::EnvVariant>& variants,
                       engine::VectorEnvConfig config, const Options& o, int threads,
                       const engine::Buffer2D<float>& table, Progress& progress,
                       std::int64_t& done) {
  config.num_envs = o.envs;
  config.num_threads = threads;
  config.seed = o.seed;
  engine::VectorEnv env(variants, config);
  const int act_dim = static_cast<int>(table.cols());
  std::vector<float> actions(static_cast<std::size_t>(o.envs) * act_dim);
  Digest digest;
  BatchedRun run;
  for (int s = 0; s < o.steps; ++s) {
    for (int i = 0; i < o.envs; ++i)
      std::memcpy(&actions[static_cast<std::size_t>(i) * act_dim],
                  table.row((i + s) % table.rows()).data(), sizeof(float) * act_dim);
    const auto start = std::chrono::steady_clock::now();
    const auto& batch = env.step(actions);
    run.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    digest.add(batch.obs.data(), batch.obs.size_bytes());
    digest.add(batch.reward.data(), batch.reward.size_bytes());
    done += o.envs;
    progress.update(done);
  }
  run.digest = digest.hex();
  run.stats = env.stats();
  run.world_bytes = env.world_bytes_per_env();
  run.batch_bytes = env.batch_bytes_per_env();
  return run;
}

// What a bench physics run steps: the model or scene (MuJoCo), the same without parameter
// randomization (scenes only), and the same on Bullet (--backend bullet).
struct Subjects {
  std::filesystem::path path;
  std::vector<engine::EnvVariant> variants;
  engine::VectorEnvConfig base;
  // The comparison without randomization keeps the scene's initial-state terms (where episodes
  // start is part of the task) and drops parameter randomization, pushes and corruption.
  bool randomized = false;
  std::vector<engine::EnvVariant> plain_variants;
  engine::VectorEnvConfig plain;
  std::vector<engine::EnvVariant> bullet_variants;
  engine::VectorEnvConfig bullet_base;
};

// A bare model steps with no task and 1000-step episodes; a scene brings its own configuration.
// A heterogeneous scene runs all its structural variants (env i runs variant i % V).
Subjects load_subjects(const Options& o, bool compare) {
  Subjects s;
  s.base.frame_skip = o.frame_skip;
  if (!o.scene.empty()) {
    const app::RunSpec run{.scene = o.scene, .seed = o.seed, .max_variants = o.envs};
    const auto scene = app::build_scene(run);
    s.path = scene.spec.file;
    s.variants = scene.variants;
    s.base = scene.config;
    auto plain_run = run;
    plain_run.randomization = scenes::Randomization::kNone;
    const auto bare = app::build_scene(plain_run);
    s.randomized =
        bare.spec.randomize.size() != scene.spec.randomize.size() || s.base.corruption.any();
    s.plain_variants = bare.variants;
    s.plain = bare.config;
    s.plain.corruption = {};
    if (compare) {
      auto bullet_run = run;
      bullet_run.backend = engine::physics::BackendKind::kBullet;
      const auto bullet_scene = app::build_scene(bullet_run);
      s.bullet_variants = bullet_scene.variants;
      s.bullet_base = bullet_scene.config;
    }
  } else {
    s.path = engine::resolve_model(o.model);
    const auto source = engine::physics::ModelSource::file(s.path);
    s.variants = {{engine::physics::load_model(source), {}, {}}};
    if (compare) {
      s.bullet_variants = {
          {engine::physics::load_model(source, engine::physics::BackendKind::kBullet), {}, {}}};
      s.bullet_base = s.base;
    }
  }
  if (compare && (s.bullet_variants.size() != s.variants.size() ||
                  s.bullet_variants[0].model->info().action.dim() !=
                      s.variants[0].model->info().action.dim() ||
                  s.bullet_base.frame_skip != s.base.frame_skip))
    throw std::logic_error("the Bullet build of the model has another shape than MuJoCo's");
  return s;
}

// The fastest of every phase over the repeats: the raw loop, the batched runs on 1 and T threads,
// the unrandomized scene, and Bullet's.
struct Measured {
  double raw = 1e300, bullet_raw = 1e300;
  BatchedRun one, many, unrandomized, bullet_one, bullet_many;
};

Measured measure(const Subjects& s, const Options& o, int threads, bool compare,
                 const engine::Buffer2D<float>& table) {
  const int num_variants = static_cast<int>(s.variants.size());
  const std::int64_t per_phase = static_cast<std::int64_t>(o.envs) * o.steps;
  const int phases = (s.randomized ? 4 : 3) + (compare ? 3 : 0);
  Progress progress(
      compare ? "raw, batched x1, batched xT; MuJoCo, then Bullet" : "raw, batched x1, batched xT",
      per_phase * phases * o.repeats, "env-steps");
  std::int64_t done = 0;
  // Every variant with its share of the envs, on one thread.
  auto raw_loop = [&](const std::vector<engine::EnvVariant>& vs) {
    double seconds = 0;
    for (int v = 0; v < num_variants; ++v)
      seconds +=
          vs[v].model->time_raw_loop(o.envs / num_variants + (v < o.envs % num_variants ? 1 : 0),
                                     o.steps, s.base.frame_skip, table);
    done += per_phase;
    progress.update(done);
    return seconds;
  };
  auto batched = [&](const std::vector<engine::EnvVariant>& vs, const engine::VectorEnvConfig& c,
                     int t) { return run_batched(vs, c, o, t, table, progress, done); };
  // Keep the faster run; a repeat must give the same rollout.
  auto keep = [](BatchedRun& best, BatchedRun run, int repeat, const char* what) {
    if (repeat > 0 && run.digest != best.digest)
      throw std::logic_error(std::string("a repeat of the same seed gave a different ") + what);
    if (repeat == 0 || run.seconds < best.seconds) best = std::move(run);
  };
  Measured m;
  for (int r = 0; r < o.repeats; ++r) {
    m.raw = std::min(m.raw, raw_loop(s.variants));
    keep(m.one, batched(s.variants, s.base, 1), r, "rollout");
    keep(m.many, batched(s.variants, s.base, threads), r, "rollout");
    if (s.randomized) {
      auto c = batched(s.plain_variants, s.plain, threads);
      if (r == 0 || c.seconds < m.unrandomized.seconds) m.unrandomized = c;
    }
    if (compare) {
      m.bullet_raw = std::min(m.bullet_raw, raw_loop(s.bullet_variants));
      keep(m.bullet_one, batched(s.bullet_variants, s.bullet_base, 1), r, "Bullet rollout");
      keep(m.bullet_many, batched(s.bullet_variants, s.bullet_base, threads), r, "Bullet rollout");
    }
  }
  progress.finish();
  return m;
}

// One engine's figures: its raw loop, its batched runs on 1 and T threads.
nlohmann::json figures(double n, int threads, double raw_seconds, const BatchedRun& one_run,
                       const BatchedRun& many_run, std::size_t model_bytes) {
  return {{"raw_env_steps_per_s", n / raw_seconds},
          {"batched_1t_env_steps_per_s", n / one_run.seconds},
          {"batched_env_steps_per_s", n / many_run.seconds},
          {"scaling_vs_threads_x_raw", raw_seconds / (threads * many_run.seconds)},
          {"overhead_1t", one_run.seconds / raw_seconds - 1.0},
          {"bytes_world_per_env", many_run.world_bytes},
          {"bytes_batch_per_env", many_run.batch_bytes},
          {"bytes_model_shared", model_bytes},
          {"digest", many_run.digest},
          {"digest_1t", one_run.digest},
          {"deterministic", one_run.digest == many_run.digest},
          {"episodes", many_run.stats.episodes},
          {"diverged", many_run.stats.diverged},
          {"invalid_actions", many_run.stats.invalid_actions},
          {"overflows", many_run.stats.overflows}};
}

void print_comparison(const Measured& m, double n, int threads, bool randomized) {
  const double raw_rate = n / m.raw, one_rate = n / m.one.seconds, many_rate = n / m.many.seconds;
  const double bullet_raw_rate = n / m.bullet_raw, bullet_one_rate = n / m.bullet_one.seconds,
               bullet_many_rate = n / m.bullet_many.seconds;
  const std::string batched_t = "batched VectorEnv, " + std::to_string(threads) + " threads";
  std::printf("  %-34s %14s %14s %16s\n", "env-steps/s", "MuJoCo", "Bullet", "Bullet / MuJoCo");
  std::printf("  %-34s %14.0f %14.0f %16.3f\n", "raw step loop, 1 thread", raw_rate,
              bullet_raw_rate, bullet_raw_rate / raw_rate);
  std::printf("  %-34s %14.0f %14.0f %16.3f\n", "batched VectorEnv, 1 thread", one_rate,
              bullet_one_rate, bullet_one_rate / one_rate);
  std::printf("  %-34s %14.0f %14.0f %16.3f\n", batched_t.c_str(), many_rate, bullet_many_rate,
              bullet_many_rate / many_rate);
  std::printf("  %-34s %+13.1f%% %+13.1f%%\n", "1-thread overhead against raw",
              100 * (m.one.seconds / m.raw - 1.0),
              100 * (m.bullet_one.seconds / m.bullet_raw - 1.0));
  std::printf("  %-34s %14.2f %14.2f\n", "batched / (threads x raw)",
              many_rate / (threads * raw_rate), bullet_many_rate / (threads * bullet_raw_rate));
  if (randomized)
    std::printf(
        "  MuJoCo without param. randomization: %.0f env-steps/s: randomization costs "
        "%.1f%%\n",
        n / m.unrandomized.seconds, 100 * (1.0 - m.unrandomized.seconds / m.many.seconds));
  std::printf("  memory per env: MuJoCo %zu B world state, Bullet %zu B; %zu B batch rows\n",
              m.many.world_bytes, m.bullet_many.world_bytes, m.many.batch_bytes);
  auto digests = [](const char* name, const BatchedRun& a, const BatchedRun& b) {
    std::printf(
        "  %s: episodes %llu, diverged %llu, overflowed %llu; rollout digest %s (1 thread: %s) "
        "%s\n",
        name, static_cast<unsigned long long>(b.stats.episodes),
        static_cast<unsigned long long>(b.stats.diverged),
        static_cast<unsigned long long>(b.stats.overflows), b.digest.c_str(), a.digest.c_str(),
        a.digest == b.digest ? "identical" : "DIFFERENT");
  };
  digests("MuJoCo", m.one, m.many);
  digests("Bullet", m.bullet_one, m.bullet_many);
}

void print_mujoco(const Measured& m, double n, int threads, bool randomized,
                  std::size_t model_bytes, const engine::physics::ArenaInfo& arena) {
  const double raw_rate = n / m.raw, one_rate = n / m.one.seconds, many_rate = n / m.many.seconds;
  std::printf("  %-34s %12.0f env-steps/s   (the physical limit per core)\n",
              "raw mj_step loop, 1 thread", raw_rate);
  std::printf("  %-34s %12.0f env-steps/s   bookkeeping overhead %+.1f%% (target <= 5%%)\n",
              "batched VectorEnv, 1 thread", one_rate, 100 * (m.one.seconds / m.raw - 1.0));
  std::printf("  %-34s %12.0f env-steps/s   = %.2f x threads x raw (target >= 0.90)\n",
              ("batched VectorEnv, " + std::to_string(threads) + " threads").c_str(), many_rate,
              many_rate / (threads * raw_rate));
  if (randomized)
    std::printf("  %-34s %12.0f env-steps/s   randomization costs %.1f%% (target <= 5%%)\n",
                "same scene, no param. randomization", n / m.unrandomized.seconds,
                100 * (1.0 - m.unrandomized.seconds / m.many.seconds));
  std::printf("  memory per env: %zu B world state + %zu B batch rows; model %zu B, shared\n",
              m.many.world_bytes, m.many.batch_bytes, model_bytes);
  std::printf("  arena: %s\n", engine::physics::describe_arena(arena).c_str());
  std::printf(
      "  episodes %llu, diverged %llu, overflowed %llu; rollout digest %s (1 thread: %s) %s\n",
      static_cast<unsigned long long>(m.many.stats.episodes),
      static_cast<unsigned long long>(m.many.stats.diverged),
      static_cast<unsigned long long>(m.many.stats.overflows), m.many.digest.c_str(),
      m.one.digest.c_str(), m.one.digest == m.many.digest ? "identical" : "DIFFERENT");
}

void run_bench_physics(const Options& o) {
  auto bad = [](const char* field, const std::string& what) {
    return Error(SourceLocation{.field = field}, what);
  };
  if (o.envs < 1) throw bad("--envs", "must be >= 1");
  if (o.steps < 1) throw bad("--steps", "must be >= 1");
  if (o.threads < 0) throw bad("--threads", "must be >= 0 (0: all cores)");
  if (o.repeats < 1) throw bad("--repeats", "must be >= 1");
  const bool compare = o.backend == engine::physics::BackendKind::kBullet;
  const int threads = o.threads == 0 ? tbb::info::default_concurrency() : o.threads;
  // Let oneTBB run as many threads as asked for, even past the core count: the arena asks for
  // `threads` workers, and the calling thread counts against the limit too.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism,
                            std::max<std::size_t>(threads + 1, tbb::info::default_concurrency()));

  const Subjects s = load_subjects(o, compare);
  const auto& info = s.variants[0].model->info();
  const int num_variants = static_cast<int>(s.variants.size());
  const auto table = make_ctrl_table(info.action, o.seed);
  if (!o.json) {
    std::printf(
        "simlab bench physics: %s (nq %d, nv %d, nu %d; %d variant%s), %d envs x %d steps, frame "
        "skip %d, %d thread%s, best of %d%s\n",
        s.path.string().c_str(), info.nq, info.nv, info.nu, num_variants,
        num_variants == 1 ? "" : "s", o.envs, o.steps, s.base.frame_skip, threads,
        threads == 1 ? "" : "s", o.repeats, compare ? "; MuJoCo and Bullet" : "");
    std::fflush(stdout);
  }
  const Measured m = measure(s, o, threads, compare, table);

  const double n = static_cast<double>(o.envs) * o.steps;
  // Randomization's cost: throughput lost against the same scene without it, same run.
  const double randomize_cost = s.randomized ? 1.0 - m.unrandomized.seconds / m.many.seconds : 0.0;
  nlohmann::json j = {{"model", s.path.string()},
                      {"nq", info.nq},
                      {"nv", info.nv},
                      {"nu", info.nu},
                      {"variants", num_variants},
                      {"envs", o.envs},
                      {"steps", o.steps},
                      {"threads", threads},
                      {"frame_skip", s.base.frame_skip},
                      {"repeats", o.repeats},
                      {"seed", o.seed},
                      {"scene", o.scene},
                      {"randomized", s.randomized},
                      {"randomize_cost", randomize_cost}};
  j.update(figures(n, threads, m.raw, m.one, m.many, info.model_bytes));  // MuJoCo's at the top
  j["arena"] = {{"nstack", info.arena.nstack},         {"njmax", info.arena.njmax},
                {"nconmax", info.arena.nconmax},       {"fitted", info.arena.fitted()},
                {"peak_stack", info.arena.peak_stack}, {"peak_efc", info.arena.peak_efc},
                {"peak_con", info.arena.peak_con},     {"margin", info.arena.margin}};
  if (compare) {
    // --backend bullet: Bullet's figures beside MuJoCo's.
    j["bullet"] = figures(n, threads, m.bullet_raw, m.bullet_one, m.bullet_many,
                          s.bullet_variants[0].model->info().model_bytes);
    j["bullet_vs_mujoco"] = {{"raw", m.raw / m.bullet_raw},
                             {"batched_1t", m.one.seconds / m.bullet_one.seconds},
                             {"batched", m.many.seconds / m.bullet_many.seconds}};
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else if (compare) {
    print_comparison(m, n, threads, s.randomized);
  } else {
    print_mujoco(m, n, threads, s.randomized, info.model_bytes, info.arena);
  }
  if (m.one.digest != m.many.digest)
    throw std::logic_error("rollouts differ between 1 and N threads");
  if (compare && m.bullet_one.digest != m.bullet_many.digest)
    throw std::logic_error("Bullet rollouts differ between 1 and N threads");
}

}  // namespace

void add_bench_physics_command(CLI::App& bench) {
  auto o = std::make_shared<Options>();
  auto* cmd = bench.add_subcommand(
      "physics",
      "Batched env-steps/s against MuJoCo's raw single-thread mj_step loop on the same model.\n"
      "Prints the raw rate (the physical limit per core), the 1-thread bookkeeping overhead, the\n"
      "scaling ratio batched / (threads x raw), memory per env, and a rollout digest that must\n"
      "match between 1 and N threads. --backend bullet measures Bullet3 beside MuJoCo.");
  auto* model_opt = cmd->add_option("--model", o->model, "MJCF/URDF file, or a built-in model name")
                        ->capture_default_str();
  cmd->add_option("--scene", o->scene,
                  "A scene (built-in name or spec file) instead of --model: its control rate,\n"
                  "episodes, task and randomization; adds a same-run phase without randomization")
      ->excludes(model_opt);
  cmd->add_option("--envs", o->envs, "Number of parallel envs")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Env steps per env and phase")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0: all cores)")->capture_default_str();
  auto* skip_opt = cmd->add_option("--frame-skip", o->frame_skip, "Physics steps per env step")
                       ->capture_default_str();
  skip_opt->excludes("--scene");
  cmd->add_option("--repeats", o->repeats, "Repeats per phase; the fastest is kept")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for actions and reset noise")->capture_default_str();
  add_backend_option(*cmd, o->backend)
      ->description(
          "Physics engine: mujoco (default), or bullet to measure MuJoCo and Bullet3's\n"
          "Featherstone multibody in the same run, on the same model, envs, threads and actions,\n"
          "with Bullet / MuJoCo per phase (JSON: the top-level figures stay MuJoCo's; \"bullet\"\n"
          "and \"bullet_vs_mujoco\" are added)");
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_physics(*o); });
}

}  // namespace simlab::tools
