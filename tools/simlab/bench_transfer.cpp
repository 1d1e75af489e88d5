// simlab bench transfer: what domain randomization buys. Two PPO runs of the scene's recipe
// ([train.ppo]) with the same seed, one with the scene's randomization and one without, are
// exported and evaluated in the same run:
//
//   cells   the training ranges, the held-out ranges (values training never saw), no
//           randomization, and the other physics engine (Bullet, training ranges) where built;
//           return with a 95% interval, success rate and the safety figures for every cell
//   sweeps  every held-out shift of the scene (scenes::sweep_axes: friction, mass, gains, pushes,
//           delay) held at a grid of values with everything else nominal: return kept (against
//           the policy's own training-range return) along each axis, for both policies
//
// Everything lands in --out: transfer.md (the tables), transfer.json (every figure) and
// transfer.png (one panel per shift, both policies, 95% bands). The runs stay there too, so a
// second call reuses finished trainings and only evaluates (--overwrite trains again).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "engine/io/image.h"
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
namespace io = engine::io;

struct BenchTransferOptions {
  std::string scene = "quadruped";
  std::int64_t steps = 0;  // 0: the scene's recipe (else PPO's defaults)
  int envs = 0, horizon = 0;
  // Evaluation is cheap next to training (push: 1.7 min for 200 per cell and 50 per sweep point
  // against 30 min of training), and bimodal outcomes need many episodes: on push, 30 per cell
  // showed the randomized policy keeping 126% held out, 200 showed 54%.
  int episodes = 100;
  int sweep_points = 5;
  int sweep_episodes = 30;
  bool sweeps = true;
  bool bullet = true;
  int threads = 0;
  std::uint64_t seed = 0;
  std::uint64_t eval_seed = 1000;
  std::string out;  // "": runs/transfer-<scene>
  bool overwrite = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// One evaluation: the return with its 95% interval, success, and the safety figures.
struct Cell {
  double mean = NAN, lo = NAN, hi = NAN;
  double success = NAN;  // NaN: the scene has no success criterion
  double joint_limit = 0, saturation = 0, contacts = 0, jerk = 0, terminated = 0;
  nlohmann::json json;  // the evaluation's JSON without its per-episode rows
};

Cell cell_of(nlohmann::json eval) {
  Cell c;
  const auto& r = eval.at("return");
  c.mean = r.at("mean").get<double>();
  if (!r.at("ci95")[0].is_null()) c.lo = r.at("ci95")[0].get<double>();
  if (!r.at("ci95")[1].is_null()) c.hi = r.at("ci95")[1].get<double>();
  if (!eval.at("success_rate").is_null()) c.success = eval.at("success_rate").get<double>();
  const auto& s = eval.at("safety");
  c.joint_limit = s.at("joint_limit_share").get<double>();
  c.saturation = s.at("saturation_share").get<double>();
  c.contacts = s.at("unwanted_contacts_per_step").get<double>();
  c.jerk = s.at("jerk").get<double>();
  c.terminated = eval.at("terminated_share").get<double>();
  eval.erase("per_episode");
  c.json = std::move(eval);
  return c;
}

std::string fixed(double x, int digits) {
  if (!std::isfinite(x)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string with_interval(const Cell& c) {
  if (!std::isfinite(c.lo)) return fixed(c.mean, 1);
  return fixed(c.mean, 1) + " (" + fixed(c.lo, 1) + " to " + fixed(c.hi, 1) + ")";
}

// x as a share of the policy's training-range return; only meaningful for positive returns.
double kept(double x, const Cell& train) {
  return train.mean > 0 ? x / train.mean : NAN;
}

struct Policy {
  std::string label;
  scenes::Randomization randomization;
  fs::path run;  // its run folder in --out
  double train_s = NAN, final_return = NAN;
  std::int64_t steps = 0;
  Cell train, heldout, none, bullet;
  std::vector<std::vector<Cell>> sweeps;  // [axis][value]
};

// Shares of the return kept mean something only when both training-range returns are positive
// (push's are distances, negative): otherwise the report shows returns and success rates.
bool shares(const std::vector<Policy>& policies) {
  return std::all_of(policies.begin(), policies.end(),
                     [](const Policy& p) { return p.train.mean > 0; });
}

// The last metrics row of a run folder (a reused run reports its own training).
nlohmann::json last_metrics(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.empty() ? nlohmann::json() : nlohmann::json::parse(last, nullptr, false);
}

void train_policy(const BenchTransferOptions& o, const learners::TrainConfig& base,
                  const fs::path& dir, Policy& p) {
  const std::string randomization = scenes::randomization_name(p.randomization);
  learners::TrainConfig c = base;
  c.randomization = p.randomization;
  c.out = p.run = dir / ("trained-" + randomization);
  // A finished run of the same configuration is reused; a shorter one continues.
  const bool reuse = !o.overwrite && engine::path_exists(c.out / "config.json");
  c.resume = reuse;
  c.overwrite = !reuse;
  Progress progress("ppo, randomization " + randomization, c.steps, "env-steps");
  app::train(
      c, [&](const nlohmann::json& m) { progress.update(m.at("env_steps").get<std::int64_t>()); });
  progress.finish();
  const auto last = last_metrics(c.out);
  if (last.is_object()) {
    p.train_s = last.value("wall_s", NAN);
    p.steps = last.value("env_steps", std::int64_t{0});
    if (last.contains("mean_return") && last["mean_return"].is_number())
      p.final_return = last["mean_return"].get<double>();
  }
  std::printf(
      "  %s with randomization %-5s: %lld env steps, %.0f s of training%s, final "
      "training return %.1f\n",
      reuse ? "reused the run" : "trained", randomization.c_str(), static_cast<long long>(p.steps),
      p.train_s, reuse ? " (earlier)" : "", p.final_return);
  std::fflush(stdout);
}

std::string markdown(const BenchTransferOptions& o, const learners::TrainConfig& c,
                     const scenes::SceneSpec& spec, const std::vector<scenes::SweepAxis>& axes,
                     const std::vector<Policy>& policies, bool bullet, double wall_s) {
  std::ostringstream md;
  md << "### bench transfer: " << spec.name << "\n\n"
     << "PPO, " << c.steps << " env steps per policy (" << c.envs << " envs, horizon "
     << c.ppo.horizon << ", hidden " << c.ppo.hidden << "), training seed " << o.seed << "; "
     << o.episodes << " evaluation episodes per cell, " << o.sweep_episodes
     << " per sweep point, evaluation seed " << o.eval_seed << "; whole benchmark "
     << fixed(wall_s / 60, 1) << " min.\n\n";
  md << "| " << spec.name
     << ", trained with | training ranges | held-out ranges | held-out / train | no "
        "randomization | Bullet, training ranges | Bullet / MuJoCo |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& p : policies) {
    const auto ratio_interval = [&](const Cell& x) {
      const double k = kept(x.mean, p.train);
      if (!std::isfinite(k)) return std::string("n/a (return <= 0)");
      return fixed(k, 3) + " (" + fixed(kept(x.lo, p.train), 3) + " to " +
             fixed(kept(x.hi, p.train), 3) + ")";
    };
    md << "| " << p.label << " | " << with_interval(p.train) << " | " << with_interval(p.heldout)
       << " | " << ratio_interval(p.heldout) << " | " << with_interval(p.none) << " | "
       << (bullet ? with_interval(p.bullet) : "n/a (built without Bullet)") << " | "
       << (bullet ? ratio_interval(p.bullet) : "n/a") << " |\n";
  }
  md << "\nSafety and success, every cell (joint limit: share of steps at a limit; saturation: "
        "share of action elements at a bound; contacts: unwanted contacts per step; jerk: mean "
        "|2nd difference| of the actions):\n\n"
        "| policy | cell | success | terminated | joint limit | saturation | contacts | jerk |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& p : policies)
    for (const auto& [name, cell] : {std::pair<const char*, const Cell*>{"training", &p.train},
                                     {"held-out", &p.heldout},
                                     {"none", &p.none},
                                     {"Bullet", &p.bullet}}) {
      if (std::string_view(name) == "Bullet" && !bullet) continue;
      md << "| " << p.label << " | " << name << " | "
         << (std::isfinite(cell->success) ? fixed(100 * cell->success, 1) + "%" : "n/a") << " | "
         << fixed(100 * cell->terminated, 1) << "% | " << fixed(100 * cell->joint_limit, 2)
         << "% | " << fixed(100 * cell->saturation, 2) << "% | " << fixed(cell->contacts, 3)
         << " | " << fixed(cell->jerk, 4) << " |\n";
    }
  if (!axes.empty() && !policies.front().sweeps.empty()) {
    md << (shares(policies)
               ? "\nSweeps: each shift alone (everything else nominal), return kept against the "
                 "policy's training-range return (95% interval); [brackets]: inside the training "
                 "range.\n\n| shift | value |"
               : "\nSweeps: each shift alone (everything else nominal), return (95% interval) "
                 "and success; [brackets]: inside the training range.\n\n| shift | value |");
    for (const auto& p : policies)
      md << " " << p.label << " |";
    md << "\n| --- | --- |";
    for (std::size_t k = 0; k < policies.size(); ++k)
      md << " --- |";
    md << "\n";
    for (std::size_t a = 0; a < axes.size(); ++a)
      for (std::size_t v = 0; v < axes[a].values.size(); ++v) {
        const double x = axes[a].values[v];
        const bool inside = x >= axes[a].train_lo - 1e-9 && x <= axes[a].train_hi + 1e-9;
        md << "| " << axes[a].label << " | " << (inside ? "[" : "") << fixed(x, 3)
           << (inside ? "]" : "") << " |";
        for (const auto& p : policies) {
          const Cell& s = p.sweeps[a][v];
          if (!shares(policies)) {  // raw returns, and success where the scene defines it
            md << " " << with_interval(s)
               << (std::isfinite(s.success) ? ", success " + fixed(100 * s.success, 0) + "%" : "")
               << " |";
            continue;
          }
          md << " " << fixed(kept(s.mean, p.train), 3);
          if (std::isfinite(s.lo))
            md << " (" << fixed(kept(s.lo, p.train), 3) << " to " << fixed(kept(s.hi, p.train), 3)
               << ")";
          md << " |";
        }
        md << "\n";
      }
  }
  return md.str();
}

// The targets, said plainly: which hold and which do not.
std::string verdict(const std::vector<Policy>& policies, bool bullet) {
  const Policy &dr = policies[0], &plain = policies[1];
  const double dr_kept = kept(dr.heldout.mean, dr.train);
  const double plain_kept = kept(plain.heldout.mean, plain.train);
  std::ostringstream s;
  if (!std::isfinite(dr_kept) || !std::isfinite(plain_kept)) {
    s << "targets: n/a (returns <= 0 on the training ranges: a share kept means nothing)";
    if (std::isfinite(dr.train.success))
      s << "; success, training ranges -> held-out" << (bullet ? " -> Bullet" : "")
        << ": with randomization " << fixed(100 * dr.train.success, 1) << "% -> "
        << fixed(100 * dr.heldout.success, 1) << "%"
        << (bullet ? " -> " + fixed(100 * dr.bullet.success, 1) + "%" : "") << ", without "
        << fixed(100 * plain.train.success, 1) << "% -> " << fixed(100 * plain.heldout.success, 1)
        << "%" << (bullet ? " -> " + fixed(100 * plain.bullet.success, 1) + "%" : "");
    s << "\n";
    return s.str();
  }
  const bool overlap = !(kept(plain.heldout.hi, plain.train) < kept(dr.heldout.lo, dr.train));
  s << "targets: the randomized policy keeps " << fixed(100 * dr_kept, 1)
    << "% of its return on the held-out ranges (>= 90%: " << (dr_kept >= 0.9 ? "met" : "NOT met")
    << "); the policy trained without randomization keeps " << fixed(100 * plain_kept, 1) << "% ("
    << (plain_kept >= dr_kept ? "not less: NOT met"
        : overlap             ? "less, but the 95% intervals overlap: NOT significant"
                              : "less, intervals apart: met")
    << ")";
  if (bullet) {
    const double b = kept(dr.bullet.mean, dr.train);
    const double plain_b = kept(plain.bullet.mean, plain.train);
    const bool apart = kept(plain.bullet.hi, plain.train) < kept(dr.bullet.lo, dr.train);
    s << "; on Bullet the randomized policy keeps " << fixed(100 * b, 1)
      << "% (>= 70%: " << (b >= 0.7 ? "met" : "NOT met") << ") and the other "
      << fixed(100 * plain_b, 1) << "% ("
      << (plain_b >= b ? "not less"
          : apart      ? "less, intervals apart"
                       : "less, intervals overlap")
      << ")";
  }
  s << "\n";
  return s.str();
}

void write_figure(const fs::path& file, const std::vector<scenes::SweepAxis>& axes,
                  const std::vector<Policy>& policies) {
  constexpr int kW = 520, kH = 340;
  std::vector<std::uint8_t> panels;
  static constexpr std::uint8_t kColours[2][3] = {{31, 119, 180}, {214, 39, 40}};
  const bool ratios = shares(policies);
  for (std::size_t a = 0; a < axes.size(); ++a) {
    std::vector<io::PlotSeries> series;
    for (std::size_t k = 0; k < policies.size(); ++k) {
      const auto& p = policies[k];
      io::PlotSeries s;
      s.label = k == 0 ? "with DR" : "without DR";
      std::copy_n(kColours[k % 2], 3, s.rgb);
      for (const auto& c : p.sweeps[a]) {
        const double scale = ratios ? 100 / p.train.mean : 1;
        s.y.push_back(scale * c.mean);
        s.lo.push_back(scale * c.lo);
        s.hi.push_back(scale * c.hi);
      }
      series.push_back(std::move(s));
    }
    const auto& axis = axes[a];
    // The panel is narrow: the scene's name is in the file's name, the axis and its range here.
    const std::string title =
        axis.label + " (train " + fixed(axis.train_lo, 2) + "-" + fixed(axis.train_hi, 2) + ")";
    // Shares from 0 to at least 120%, higher where a policy's band goes above it.
    double top = 120;
    for (const auto& s : series)
      for (double hi : s.hi)
        if (std::isfinite(hi)) top = std::max(top, 10 * std::ceil(hi / 10));
    const auto rgb = io::render_line_plot(
        title, axis.label + (ratios ? "   (y: % of return kept)" : "   (y: return)"), axis.values,
        series, kW, kH, ratios ? std::pair{0.0, top} : std::pair{double(NAN), double(NAN)},
        {axis.train_lo, axis.train_hi});
    panels.insert(panels.end(), rgb.begin(), rgb.end());
  }
  if (axes.empty()) return;
  io::ImageGrid grid(static_cast<int>(axes.size()), kW, kH, 4);
  grid.fill(panels.data());
  io::write_png(file.string(), grid.width, grid.height, grid.rgb.data());
}

void run_bench_transfer(const BenchTransferOptions& o, const learners::TrainConfig& recipe) {
  if (o.episodes < 2) throw Error(SourceLocation{.field = "--episodes"}, "must be >= 2");
  if (o.sweeps && o.sweep_points < 2)
    throw Error(SourceLocation{.field = "--sweep-points"}, "must be >= 2");
  if (o.sweep_episodes < 2)
    throw Error(SourceLocation{.field = "--sweep-episodes"}, "must be >= 2");
  const auto start = std::chrono::steady_clock::now();
  // A scene without held-out ranges fails here, before any training.
  const auto spec = scenes::load_scene(scenes::resolve_scene(o.scene));
  scenes::with_randomization(spec, scenes::Randomization::kHeldout);
  const auto axes =
      o.sweeps ? scenes::sweep_axes(spec, o.sweep_points) : std::vector<scenes::SweepAxis>{};
  const bool bullet = o.bullet && engine::physics::bullet_available();
  const fs::path dir =
      o.out.empty() ? fs::path("runs") / ("transfer-" + spec.name) : fs::path(o.out);
  fs::create_directories(dir);
  std::printf(
      "bench transfer: %s, PPO %lld env steps x 2 (%d envs, horizon %d, hidden %d, seed "
      "%llu); %d episodes per cell, %zu sweeps x %d values x %d episodes -> %s\n",
      spec.name.c_str(), static_cast<long long>(recipe.steps), recipe.envs, recipe.ppo.horizon,
      recipe.ppo.hidden, static_cast<unsigned long long>(o.seed), o.episodes, axes.size(),
      o.sweep_points, o.sweep_episodes, dir.string().c_str());
  std::fflush(stdout);

  std::vector<Policy> policies = {
      {.label = "domain randomization", .randomization = scenes::Randomization::kTrain},
      {.label = "no randomization", .randomization = scenes::Randomization::kNone}};
  // What both runs share: the recipe, the seed, the threads; each adds its randomization.
  learners::TrainConfig c = recipe;
  c.algo = learners::Algo::kPpo;
  c.threads = o.threads;
  c.seed = o.seed;
  c.device = learners::DeviceChoice::kCpu;
  for (auto& p : policies)
    train_policy(o, c, dir, p);

  std::int64_t evaluations = 0, done = 0;
  for (const auto& a : axes)
    evaluations += static_cast<std::int64_t>(a.values.size());
  evaluations = static_cast<std::int64_t>(policies.size()) * (3 + (bullet ? 1 : 0) + evaluations);
  Progress progress("evaluating", evaluations, "evaluations");
  for (auto& p : policies) {
    learners::ExportOptions export_options;
    export_options.formats = {"torchscript"};
    export_options.out = p.run / "policy";
    export_options.eval_episodes = 0;
    learners::export_policy(p.run, export_options);
    auto policy = learners::load_exported_policy(export_options.out / "policy.pt");
    learners::EvalOptions e;
    e.scene = o.scene;
    e.episodes = o.episodes;
    e.seed = o.eval_seed;
    for (const auto& [r, target] :
         {std::pair<scenes::Randomization, Cell*>{scenes::Randomization::kTrain, &p.train},
          {scenes::Randomization::kHeldout, &p.heldout},
          {scenes::Randomization::kNone, &p.none}}) {
      e.randomization = r;
      *target = cell_of(app::evaluate(policy, e).json);
      progress.update(++done);
    }
    e.randomization = scenes::Randomization::kTrain;
    if (bullet) {  // the other physics engine, on the training ranges
      e.backend = engine::physics::BackendKind::kBullet;
      p.bullet = cell_of(app::evaluate(policy, e).json);
      e.backend = engine::physics::BackendKind::kMuJoCo;
      progress.update(++done);
    }
    e.episodes = o.sweep_episodes;
    for (const auto& axis : axes) {
      p.sweeps.emplace_back();
      for (const double v : axis.values) {
        p.sweeps.back().push_back(
            cell_of(app::evaluate(policy, e, scenes::at_sweep_point(spec, axis, v)).json));
        progress.update(++done);
      }
    }
  }
  progress.finish();
  const double wall_s = seconds_since(start);

  const std::string md = markdown(o, c, spec, axes, policies, bullet, wall_s);
  const std::string targets = verdict(policies, bullet);
  std::printf("\n%s\n%s", md.c_str(), targets.c_str());
  std::ofstream(dir / "transfer.md") << md << "\n" << targets;

  nlohmann::json j = {{"scene", spec.name},
                      {"train", c.to_json()},
                      {"eval_seed", o.eval_seed},
                      {"episodes", o.episodes},
                      {"sweep_episodes", o.sweep_episodes},
                      {"wall_s", wall_s},
                      {"targets", targets},
                      {"policies", nlohmann::json::array()}};
  for (const auto& p : policies) {
    nlohmann::json pj = {{"label", p.label},
                         {"randomization", scenes::randomization_name(p.randomization)},
                         {"train_s", p.train_s},
                         {"env_steps", p.steps},
                         {"final_training_return", p.final_return},
                         {"cells",
                          {{"train", p.train.json},
                           {"heldout", p.heldout.json},
                           {"none", p.none.json},
                           {"bullet", bullet ? p.bullet.json : nlohmann::json(nullptr)}}},
                         {"sweeps", nlohmann::json::array()}};
    for (std::size_t a = 0; a < axes.size(); ++a) {
      nlohmann::json points = nlohmann::json::array();
      for (std::size_t v = 0; v < axes[a].values.size(); ++v)
        points.push_back({{"value", axes[a].values[v]},
                          {"return", p.sweeps[a][v].json.at("return")},
                          {"kept", kept(p.sweeps[a][v].mean, p.train)},
                          {"safety", p.sweeps[a][v].json.at("safety")}});
      pj["sweeps"].push_back({{"axis", axes[a].label},
                              {"train_range", {axes[a].train_lo, axes[a].train_hi}},
                              {"points", points}});
    }
    j["policies"].push_back(std::move(pj));
  }
  // NaN ratios (returns <= 0) are written as null.
  std::ofstream(dir / "transfer.json")
      << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  write_figure(dir / "transfer.png", axes, policies);
  std::printf(
      "wrote %s/transfer.md, transfer.json%s; runs and policies in %s/trained-train, "
      "trained-none\n",
      dir.string().c_str(), axes.empty() ? "" : ", transfer.png (the sweeps)",
      dir.string().c_str());
}

}  // namespace

void add_bench_transfer_command(CLI::App& bench) {
  auto o = std::make_shared<BenchTransferOptions>();
  auto* cmd = bench.add_subcommand(
      "transfer",
      "What domain randomization buys: PPO trained with and without the scene's randomization\n"
      "(the scene's [train.ppo] recipe), each evaluated on the training ranges, the held-out\n"
      "ranges, without randomization and on Bullet, with success and safety figures in every\n"
      "cell, and swept along every held-out shift (friction, mass, gains, pushes, delay).\n"
      "Writes transfer.md, transfer.json and transfer.png (return kept per shift, 95% bands)\n"
      "into --out, beside both runs; a second call reuses finished runs.");
  cmd->add_option("--scene", o->scene, "Scene that declares held-out ranges")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "Env steps of each training run (default: the recipe's)");
  cmd->add_option("--envs", o->envs, "Parallel envs of each training run (default: the recipe's)");
  cmd->add_option("--horizon", o->horizon, "PPO steps per env per update (default: the recipe's)");
  cmd->add_option("--episodes", o->episodes, "Evaluation episodes per table cell (>= 2)")
      ->capture_default_str();
  cmd->add_option("--sweep-points", o->sweep_points, "Values per swept shift (>= 2)")
      ->capture_default_str();
  cmd->add_option("--sweep-episodes", o->sweep_episodes, "Evaluation episodes per sweep value")
      ->capture_default_str();
  cmd->add_flag("!--no-sweeps", o->sweeps, "Only the table: no per-shift sweeps or figure");
  cmd->add_flag("!--no-bullet", o->bullet, "Skip the Bullet cells");
  cmd->add_option("--threads", o->threads, "Simulation and LibTorch threads (0: every core)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Training seed (both runs)")->capture_default_str();
  cmd->add_option("--eval-seed", o->eval_seed, "Seed of the evaluation episodes")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Runs, policies and the report (default: runs/transfer-SCENE)");
  cmd->add_flag("--overwrite", o->overwrite, "Train both policies again even where runs exist");
  cmd->footer(
      "Examples:\n  simlab bench transfer --scene quadruped               # ~45 min on 2 cores\n"
      "  simlab bench transfer --scene push                    # ~32 min\n"
      "  simlab bench transfer --scene quadruped --no-sweeps   # the table only\n"
      "  simlab bench transfer --scene push --episodes 200     # again, more episodes\n"
      "  simlab bench transfer --scene cartpole-balance --steps 300000 --out runs/tcb");
  cmd->callback([o, cmd] {
    learners::TrainConfig c;
    c.scene = o->scene;
    c.envs = 64;
    app::apply_scene_recipe(c, flag_given(cmd));
    if (cmd->count("--steps")) c.steps = o->steps;
    if (cmd->count("--envs")) c.envs = o->envs;
    if (cmd->count("--horizon")) c.ppo.horizon = o->horizon;
    run_bench_transfer(*o, c);
  });
}

}  // namespace simlab::tools
