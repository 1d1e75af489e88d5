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
  std::string backend = "mujoco";  // bullet: MuJoCo and Bullet, side by side
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

void run_bench_physics(const Options& o) {
  auto bad = [](const char* field, const std::string& what) {
    return Error(SourceLocation{.field = field}, what);
  };
  if (o.envs < 1) throw bad("--envs", "must be >= 1");
  if (o.steps < 1) throw bad("--steps", "must be >= 1");
  if (o.threads < 0) throw bad("--threads", "must be >= 0 (0: all cores)");
  if (o.repeats < 1) throw bad("--repeats", "must be >= 1");
  const bool compare = engine::physics::parse_backend(o.backend, "--backend") ==
                       engine::physics::BackendKind::kBullet;
  const int threads = o.threads == 0 ? tbb::info::default_concurrency() : o.threads;
  // Let oneTBB run as many threads as asked for, even past the core count: the arena asks for
  // `threads` workers, and the calling thread counts against the limit too.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism,
                            std::max<std::size_t>(threads + 1, tbb::info::default_concurrency()));

  // A bare model steps with no task and 1000-step episodes; a scene brings its own configuration.
  // A heterogeneous scene runs all its structural variants (env i runs variant i % V).
  std::filesystem::path path;
  std::vector<engine::EnvVariant> variants;
  engine::VectorEnvConfig base;
  base.frame_skip = o.frame_skip;
  // The comparison without randomization keeps the scene's initial-state terms (where episodes
  // start is part of the task) and drops parameter randomization, pushes and corruption.
  std::vector<engine::EnvVariant> plain_variants;
  engine::VectorEnvConfig plain;
  bool randomized = false;
  // --backend bullet: the same model or scene built on Bullet.
  std::vector<engine::EnvVariant> bullet_variants;
  engine::VectorEnvConfig bullet_base;
  if (!o.scene.empty()) {
    const auto spec = scenes::load_scene(scenes::resolve_scene(o.scene));
    auto scene = scenes::compile_scene(spec, o.seed, o.envs);
    path = scene.spec.file;
    variants = scene.variants;
    base = scene.config;
    auto bare_spec = spec;
    std::erase_if(bare_spec.randomize, [](const scenes::RandomizeSpec& r) {
      return r.state == scenes::RandomizeSpec::State::kNone ||
             r.state == scenes::RandomizeSpec::State::kPush;
    });
    randomized = bare_spec.randomize.size() != spec.randomize.size() || base.corruption.any();
    auto bare = scenes::compile_scene(bare_spec, o.seed, o.envs);
    plain_variants = bare.variants;
    plain = bare.config;
    plain.corruption = {};
    if (compare) {
      auto bullet_spec = spec;
      bullet_spec.backend = engine::physics::BackendKind::kBullet;
      auto bullet_scene = scenes::compile_scene(bullet_spec, o.seed, o.envs);
      bullet_variants = bullet_scene.variants;
      bullet_base = bullet_scene.config;
    }
  } else {
    path = engine::resolve_model(o.model);
    variants = {{engine::physics::load_model(engine::physics::ModelSource::file(path)), {}, {}}};
    if (compare) {
      bullet_variants = {{engine::physics::load_model(engine::physics::ModelSource::file(path),
                                                      engine::physics::BackendKind::kBullet),
                          {},
                          {}}};
      bullet_base = base;
    }
  }
  const auto& info = variants[0].model->info();
  if (compare && (bullet_variants.size() != variants.size() ||
                  bullet_variants[0].model->info().action.dim() != info.action.dim() ||
                  bullet_base.frame_skip != base.frame_skip))
    throw std::logic_error("the Bullet build of the model has another shape than MuJoCo's");
  const int num_variants = static_cast<int>(variants.size());
  const auto table = make_ctrl_table(info.action, o.seed);
  if (!o.json) {
    std::printf(
        "simlab bench physics: %s (nq %d, nv %d, nu %d; %d variant%s), %d envs x %d steps, frame "
        "skip %d, %d thread%s, best of %d%s\n",
        path.string().c_str(), info.nq, info.nv, info.nu, num_variants,
        num_variants == 1 ? "" : "s", o.envs, o.steps, base.frame_skip, threads,
        threads == 1 ? "" : "s", o.repeats, compare ? "; MuJoCo and Bullet" : "");
    std::fflush(stdout);
  }

  const std::int64_t per_phase = static_cast<std::int64_t>(o.envs) * o.steps;
  const int phases = (randomized ? 4 : 3) + (compare ? 3 : 0);
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
                                     o.steps, base.frame_skip, table);
    done += per_phase;
    progress.update(done);
    return seconds;
  };
  double raw = 1e300, bullet_raw = 1e300;
  BatchedRun one, many, unrandomized, bullet_one, bullet_many;
  one.seconds = many.seconds = unrandomized.seconds = 1e300;
  bullet_one.seconds = bullet_many.seconds = 1e300;
  for (int r = 0; r < o.repeats; ++r) {
    raw = std::min(raw, raw_loop(variants));
    auto a = run_batched(variants, base, o, 1, table, progress, done);
    auto b = run_batched(variants, base, o, threads, table, progress, done);
    if (r > 0 && (a.digest != one.digest || b.digest != many.digest))
      throw std::logic_error("a repeat of the same seed gave a different rollout");
    if (a.seconds < one.seconds) one = a;
    if (b.seconds < many.seconds) many = b;
    if (randomized) {
      auto c = run_batched(plain_variants, plain, o, threads, table, progress, done);
      if (c.seconds < unrandomized.seconds) unrandomized = c;
    }
    if (compare) {
      bullet_raw = std::min(bullet_raw, raw_loop(bullet_variants));
      auto ba = run_batched(bullet_variants, bullet_base, o, 1, table, progress, done);
      auto bb = run_batched(bullet_variants, bullet_base, o, threads, table, progress, done);
      if (r > 0 && (ba.digest != bullet_one.digest || bb.digest != bullet_many.digest))
        throw std::logic_error("a repeat of the same seed gave a different Bullet rollout");
      if (ba.seconds < bullet_one.seconds) bullet_one = ba;
      if (bb.seconds < bullet_many.seconds) bullet_many = bb;
    }
  }
  progress.finish();

  const double n = static_cast<double>(per_phase);
  // One engine's figures: its raw loop, its batched runs on 1 and T threads.
  auto figures = [&](double raw_seconds, const BatchedRun& one_run, const BatchedRun& many_run,
                     std::size_t model_bytes) -> nlohmann::json {
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
            {"invalid_actions", many_run.stats.invalid_actions}};
  };
  const double raw_rate = n / raw, one_rate = n / one.seconds, many_rate = n / many.seconds;
  const double scaling = many_rate / (threads * raw_rate);
  const double overhead = one.seconds / raw - 1.0;
  const bool deterministic = one.digest == many.digest;
  // Randomization's cost: throughput lost against the same scene without it, same run.
  const double randomize_cost = randomized ? 1.0 - unrandomized.seconds / many.seconds : 0.0;

  nlohmann::json j = {{"model", path.string()},
                      {"nq", info.nq},
                      {"nv", info.nv},
                      {"nu", info.nu},
                      {"variants", num_variants},
                      {"envs", o.envs},
                      {"steps", o.steps},
                      {"threads", threads},
                      {"frame_skip", base.frame_skip},
                      {"repeats", o.repeats},
                      {"seed", o.seed},
                      {"scene", o.scene},
                      {"randomized", randomized},
                      {"randomize_cost", randomize_cost}};
  j.update(figures(raw, one, many, info.model_bytes));  // MuJoCo's at the top level
  // --backend bullet: Bullet's figures beside MuJoCo's.
  const double bullet_raw_rate = compare ? n / bullet_raw : 0;
  const double bullet_one_rate = compare ? n / bullet_one.seconds : 0;
  const double bullet_many_rate = compare ? n / bullet_many.seconds : 0;
  const bool bullet_deterministic = !compare || bullet_one.digest == bullet_many.digest;
  if (compare) {
    j["bullet"] =
        figures(bullet_raw, bullet_one, bullet_many, bullet_variants[0].model->info().model_bytes);
    j["bullet_vs_mujoco"] = {{"raw", bullet_raw_rate / raw_rate},
                             {"batched_1t", bullet_one_rate / one_rate},
                             {"batched", bullet_many_rate / many_rate}};
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else if (compare) {
    const std::string batched_t = "batched VectorEnv, " + std::to_string(threads) + " threads";
    std::printf("  %-34s %14s %14s %16s\n", "env-steps/s", "MuJoCo", "Bullet", "Bullet / MuJoCo");
    std::printf("  %-34s %14.0f %14.0f %16.3f\n", "raw step loop, 1 thread", raw_rate,
                bullet_raw_rate, bullet_raw_rate / raw_rate);
    std::printf("  %-34s %14.0f %14.0f %16.3f\n", "batched VectorEnv, 1 thread", one_rate,
                bullet_one_rate, bullet_one_rate / one_rate);
    std::printf("  %-34s %14.0f %14.0f %16.3f\n", batched_t.c_str(), many_rate, bullet_many_rate,
                bullet_many_rate / many_rate);
    std::printf("  %-34s %+13.1f%% %+13.1f%%\n", "1-thread overhead against raw", 100 * overhead,
                100 * (bullet_one.seconds / bullet_raw - 1.0));
    std::printf("  %-34s %14.2f %14.2f\n", "batched / (threads x raw)", scaling,
                bullet_many_rate / (threads * bullet_raw_rate));
    if (randomized)
      std::printf(
          "  MuJoCo without param. randomization: %.0f env-steps/s: randomization costs "
          "%.1f%%\n",
          n / unrandomized.seconds, 100 * randomize_cost);
    std::printf("  memory per env: MuJoCo %zu B world state, Bullet %zu B; %zu B batch rows\n",
                many.world_bytes, bullet_many.world_bytes, many.batch_bytes);
    auto digests = [](const char* name, const BatchedRun& a, const BatchedRun& b) {
      std::printf("  %s: episodes %llu, diverged %llu; rollout digest %s (1 thread: %s) %s\n", name,
                  static_cast<unsigned long long>(b.stats.episodes),
                  static_cast<unsigned long long>(b.stats.diverged), b.digest.c_str(),
                  a.digest.c_str(), a.digest == b.digest ? "identical" : "DIFFERENT");
    };
    digests("MuJoCo", one, many);
    digests("Bullet", bullet_one, bullet_many);
  } else {
    std::printf("  %-34s %12.0f env-steps/s   (the physical limit per core)\n",
                "raw mj_step loop, 1 thread", raw_rate);
    std::printf("  %-34s %12.0f env-steps/s   bookkeeping overhead %+.1f%% (target <= 5%%)\n",
                "batched VectorEnv, 1 thread", one_rate, 100 * overhead);
    std::printf("  %-34s %12.0f env-steps/s   = %.2f x threads x raw (target >= 0.90)\n",
                ("batched VectorEnv, " + std::to_string(threads) + " threads").c_str(), many_rate,
                scaling);
    if (randomized)
      std::printf("  %-34s %12.0f env-steps/s   randomization costs %.1f%% (target <= 5%%)\n",
                  "same scene, no param. randomization", n / unrandomized.seconds,
                  100 * randomize_cost);
    std::printf("  memory per env: %zu B world state + %zu B batch rows; model %zu B, shared\n",
                many.world_bytes, many.batch_bytes, info.model_bytes);
    std::printf("  episodes %llu, diverged %llu; rollout digest %s (1 thread: %s) %s\n",
                static_cast<unsigned long long>(many.stats.episodes),
                static_cast<unsigned long long>(many.stats.diverged), many.digest.c_str(),
                one.digest.c_str(), deterministic ? "identical" : "DIFFERENT");
  }
  if (!deterministic) throw std::logic_error("rollouts differ between 1 and N threads");
  if (!bullet_deterministic)
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
