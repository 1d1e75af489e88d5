// simlab bench transfer: how well a policy trained with domain randomization transfers to
// parameters it never saw, next to one trained without. Both are PPO runs of the same length and
// seed on the scene, exported (policy.pt) and evaluated on the scene's training ranges, on its
// held-out ranges (values outside the training ranges: scenes::Randomization::kHeldout) and
// without randomization; the figure that compares across machines is the held-out / train ratio
// of each policy, measured in the same run. Where this simlab has the Bullet backend, each policy
// (trained on MuJoCo) is also evaluated on Bullet with the training ranges: the other physics
// engine, with the Bullet / MuJoCo return ratio on the same episodes' seeds.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"
#include "learners/evaluate.h"
#include "learners/export.h"
#include "learners/trainer.h"
#include "scenes/scene.h"
#include "tools/app/learn.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

namespace fs = std::filesystem;

struct BenchTransferOptions {
  std::string scene = "cartpole-balance";
  std::int64_t steps = 1000000;
  int envs = 256;
  int horizon = 32;
  int episodes = 30;
  int threads = 0;
  std::uint64_t seed = 0;
  std::uint64_t eval_seed = 1000;
  std::string out;  // "": a temporary folder, removed at the end
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Figure {
  double mean = 0, lo = 0, hi = 0;
};

Figure figure(const nlohmann::json& eval) {
  const auto& r = eval.at("return");
  Figure f{.mean = r.at("mean").get<double>(), .lo = NAN, .hi = NAN};
  if (!r.at("ci95")[0].is_null()) f.lo = r.at("ci95")[0].get<double>();
  if (!r.at("ci95")[1].is_null()) f.hi = r.at("ci95")[1].get<double>();
  return f;
}

std::string cell(const Figure& f) {
  char buf[96];
  if (std::isfinite(f.lo))
    std::snprintf(buf, sizeof buf, "%.1f (%.1f to %.1f)", f.mean, f.lo, f.hi);
  else
    std::snprintf(buf, sizeof buf, "%.1f", f.mean);
  return buf;
}

void run_bench_transfer(const BenchTransferOptions& o) {
  if (o.steps < 1) throw Error(SourceLocation{.field = "--steps"}, "must be >= 1");
  if (o.envs < 1) throw Error(SourceLocation{.field = "--envs"}, "must be >= 1");
  if (o.episodes < 2) throw Error(SourceLocation{.field = "--episodes"}, "must be >= 2");
  // A scene without held-out ranges fails here, before any training.
  const auto spec = scenes::load_scene(scenes::resolve_scene(o.scene));
  scenes::with_randomization(spec, scenes::Randomization::kHeldout);

  const bool temporary = o.out.empty();
  const fs::path dir =
      temporary ? fs::temp_directory_path() / ("simlab-bench-transfer-" + std::to_string(getpid()))
                : fs::path(o.out);
  fs::create_directories(dir);
  std::printf(
      "bench transfer: %s, PPO %lld env steps x 2 (%d envs, horizon %d, seed %llu), "
      "%d evaluation episodes per cell\n",
      spec.name.c_str(), static_cast<long long>(o.steps), o.envs, o.horizon,
      static_cast<unsigned long long>(o.seed), o.episodes);
  std::fflush(stdout);

  struct Row {
    std::string label;
    scenes::Randomization randomization;
    double train_s = 0, final_return = NAN;
    Figure train, heldout, none, bullet;
  };
  const bool bullet = engine::physics::bullet_available();
  std::vector<Row> rows = {
      {.label = "domain randomization", .randomization = scenes::Randomization::kTrain},
      {.label = "no randomization", .randomization = scenes::Randomization::kNone}};
  for (auto& row : rows) {
    const std::string randomization = scenes::randomization_name(row.randomization);
    learners::TrainConfig c;
    c.scene = o.scene;
    c.algo = learners::Algo::kPpo;
    c.steps = o.steps;
    c.envs = o.envs;
    c.threads = o.threads;
    c.seed = o.seed;
    c.device = learners::DeviceChoice::kCpu;
    c.out = dir / ("trained-" + randomization);
    c.overwrite = true;
    c.randomization = row.randomization;
    c.ppo.horizon = o.horizon;
    const auto t0 = std::chrono::steady_clock::now();
    Progress progress("ppo, randomization " + randomization, o.steps, "env-steps");
    app::train(c, [&](const nlohmann::json& m) {
      progress.update(m.at("env_steps").get<std::int64_t>());
      if (!m.at("mean_return").is_null()) row.final_return = m.at("mean_return").get<double>();
    });
    progress.finish();
    row.train_s = seconds_since(t0);

    learners::ExportOptions export_options;
    export_options.formats = {"torchscript"};
    export_options.out = c.out / "policy";
    export_options.eval_episodes = 0;
    learners::export_policy(c.out, export_options);
    auto policy = learners::load_exported_policy(export_options.out / "policy.pt");
    for (const auto& [r, target] :
         {std::pair<scenes::Randomization, Figure*>{scenes::Randomization::kTrain, &row.train},
          {scenes::Randomization::kHeldout, &row.heldout},
          {scenes::Randomization::kNone, &row.none}}) {
      learners::EvalOptions e;
      e.scene = o.scene;
      e.randomization = r;
      e.episodes = o.episodes;
      e.seed = o.eval_seed;
      *target = figure(app::evaluate(policy, e).json);
    }
    if (bullet) {  // the other physics engine, on the training ranges
      learners::EvalOptions e;
      e.scene = o.scene;
      e.episodes = o.episodes;
      e.seed = o.eval_seed;
      e.backend = engine::physics::BackendKind::kBullet;
      row.bullet = figure(app::evaluate(policy, e).json);
    }
    std::printf("  trained with randomization %-5s in %6.1f s: final training return %.1f\n",
                randomization.c_str(), row.train_s, row.final_return);
    std::fflush(stdout);
  }

  std::printf(
      "\n| %s, trained with | return on training ranges (95%% interval) | return on held-out "
      "ranges (95%% interval) | held-out / train | return without randomization | other physics "
      "engine: return on Bullet, training ranges (95%% interval) | Bullet / MuJoCo |\n"
      "| --- | --- | --- | --- | --- | --- | --- |\n",
      spec.name.c_str());
  for (const auto& r : rows) {
    char other[160];
    if (bullet)
      std::snprintf(other, sizeof other, "%s | %.3f", cell(r.bullet).c_str(),
                    r.bullet.mean / r.train.mean);
    else
      std::snprintf(other, sizeof other, "n/a (built without Bullet) | n/a");
    std::printf("| %s (--randomization %s) | %s | %s | %.3f | %s | %s |\n", r.label.c_str(),
                scenes::randomization_name(r.randomization), cell(r.train).c_str(),
                cell(r.heldout).c_str(), r.heldout.mean / r.train.mean, cell(r.none).c_str(),
                other);
  }
  // Each ratio's spread: the held-out interval over the training mean (the training intervals
  // are much narrower). The comparison only counts where the spreads do not overlap.
  auto ratio = [](const Row& r, double x) { return x / r.train.mean; };
  const Row &dr_row = rows[0], &plain_row = rows[1];
  const double dr = ratio(dr_row, dr_row.heldout.mean);
  const double plain = ratio(plain_row, plain_row.heldout.mean);
  const bool overlap = std::isfinite(dr_row.heldout.lo) && std::isfinite(plain_row.heldout.lo) &&
                       ratio(plain_row, plain_row.heldout.hi) >= ratio(dr_row, dr_row.heldout.lo) &&
                       ratio(dr_row, dr_row.heldout.hi) >= ratio(plain_row, plain_row.heldout.lo);
  std::printf(
      "\ntargets: the randomized policy keeps >= 80%% of its training return under held-out "
      "ranges: %.1f%% (%s); the policy trained without randomization keeps less: %.1f%% (%s)\n",
      100 * dr, dr >= 0.8 ? "met" : "not met", 100 * plain,
      plain >= dr ? "not met"
      : overlap   ? "lower, but within the 95% intervals: not a significant difference"
                  : "met");
  if (temporary) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::printf("runs and policies: %s/trained-train, %s/trained-none\n", dir.string().c_str(),
                dir.string().c_str());
  }
}

}  // namespace

void add_bench_transfer_command(CLI::App& bench) {
  auto o = std::make_shared<BenchTransferOptions>();
  auto* cmd = bench.add_subcommand(
      "transfer",
      "Train PPO with and without domain randomization, export both, evaluate each on the\n"
      "scene's training ranges, its held-out ranges and without randomization (and on the\n"
      "Bullet backend, training ranges, where built): one markdown table with the held-out /\n"
      "train and Bullet / MuJoCo return ratios of each");
  cmd->add_option("--scene", o->scene, "Scene that declares held-out ranges")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "Env steps of each training run")->capture_default_str();
  cmd->add_option("--envs", o->envs, "Parallel envs of each training run")->capture_default_str();
  cmd->add_option("--horizon", o->horizon, "PPO steps per env per update")->capture_default_str();
  cmd->add_option("--episodes", o->episodes, "Evaluation episodes per table cell (>= 2)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Simulation and LibTorch threads (0: every core)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Training seed (both runs)")->capture_default_str();
  cmd->add_option("--eval-seed", o->eval_seed, "Seed of the evaluation episodes")
      ->capture_default_str();
  cmd->add_option("--out", o->out,
                  "Keep both run folders and policies here (default: a temporary folder, removed)");
  cmd->footer(
      "Examples:\n  simlab bench transfer --scene cartpole-balance\n"
      "  simlab bench transfer --scene cartpole-balance --steps 2000000 --episodes 50 --out "
      "runs/transfer");
  cmd->callback([o] { run_bench_transfer(*o); });
}

}  // namespace simlab::tools
