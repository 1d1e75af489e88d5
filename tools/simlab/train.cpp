// simlab train: headless training on a scene (learners::run_training), with a progress bar, a
// line per tenth of the run for logs, and where the results are at the end.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/core/error.h"
#include "learners/trainer.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

void run_train(const learners::TrainConfig& c) {
  // Under torchrun, rank 0 reports; the others only say they finished.
  const char* rank_var = std::getenv("RANK");
  const bool quiet = rank_var && std::string(rank_var) != "0";
  std::unique_ptr<Progress> progress;
  std::int64_t start_steps = -1, last_report = 0;
  nlohmann::json last;
  const auto result = learners::run_training(c, [&](const nlohmann::json& row) {
    if (quiet) return;
    const auto steps = row.at("env_steps").get<std::int64_t>();
    if (start_steps < 0) {
      start_steps = steps - static_cast<std::int64_t>(c.ppo.horizon) * c.envs;
      progress =
          std::make_unique<Progress>(c.algo + " on " + c.scene, c.steps - start_steps, "env-steps");
      std::printf("training %s with %s: %d envs, %lld env steps, seed %llu -> %s\n",
                  c.scene.c_str(), c.algo.c_str(), c.envs, static_cast<long long>(c.steps),
                  static_cast<unsigned long long>(c.seed), c.out.string().c_str());
    }
    progress->update(steps - start_steps);
    if (steps - last_report >= c.steps / 10 || steps >= c.steps) {
      last_report = steps;
      std::printf("  update %5d  env steps %9lld  mean return %9s  %7.0f env-steps/s\n",
                  row.at("update").get<int>(), static_cast<long long>(steps),
                  row.at("mean_return").is_null()
                      ? "-"
                      : std::to_string(row.at("mean_return").get<double>()).substr(0, 9).c_str(),
                  row.at("env_steps_per_s").get<double>());
      std::fflush(stdout);
    }
    last = row;
  });
  if (progress) progress->finish();
  if (result.world_size > 1)
    std::printf("rank %d of %d: parameters %s\n", result.rank, result.world_size,
                result.parameters.c_str());
  if (result.rank > 0) return;  // rank 0 reports the run
  if (last.is_null()) {
    std::printf("nothing to do: %s has %lld env steps already (raise --steps to go on)\n",
                c.out.string().c_str(), static_cast<long long>(c.steps));
    return;
  }
  std::printf("done in %.1f s: mean return %s over the last episodes\n",
              last.at("wall_s").get<double>(), last.at("mean_return").dump().c_str());
  std::printf("  %s/learning_curve.png: mean return against env steps\n", c.out.string().c_str());
  std::printf("  %s/metrics.jsonl, metrics.csv: one row per update\n", c.out.string().c_str());
  std::printf("  %s/checkpoint.pt: resume with --resume (same options, more --steps)\n",
              c.out.string().c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto c = std::make_shared<learners::TrainConfig>();
  auto out = std::make_shared<std::string>(c->out.string());
  auto* cmd = app.add_subcommand(
      "train",
      "Train a policy on a scene, headless. PPO (--algo ppo) trains thousands of envs in "
      "parallel;\nthe world-model learner (--algo dreamer) is not built yet.");
  cmd->add_option("--scene", c->scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option("--algo", c->algo, "ppo (dreamer: not built yet)")->capture_default_str();
  cmd->add_option("--steps", c->steps, "Env steps in total, over all envs")->capture_default_str();
  cmd->add_option("--envs", c->envs, "Parallel envs")->capture_default_str();
  cmd->add_option("--threads", c->threads, "Simulation and LibTorch threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--seed", c->seed, "Seed of envs, weights and sampling")->capture_default_str();
  cmd->add_option("--device", c->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--out", *out, "Run folder (metrics, checkpoint)")->capture_default_str();
  cmd->add_flag("--resume", c->resume, "Continue the run in --out from its checkpoint");
  cmd->add_flag("--overwrite", c->overwrite, "Start over in an --out that holds a run");
  cmd->add_option("--checkpoint-every", c->checkpoint_every, "Updates between checkpoints")
      ->capture_default_str();
  cmd->add_option("--horizon", c->ppo.horizon, "PPO: steps per env per update")
      ->capture_default_str();
  cmd->add_option("--epochs", c->ppo.epochs, "PPO: passes over each rollout")
      ->capture_default_str();
  cmd->add_option("--minibatches", c->ppo.minibatches, "PPO: minibatches per epoch")
      ->capture_default_str();
  cmd->add_option("--lr", c->ppo.lr, "PPO: Adam learning rate")->capture_default_str();
  cmd->add_option("--gamma", c->ppo.gamma, "PPO: discount")->capture_default_str();
  cmd->add_option("--entropy", c->ppo.entropy_coef, "PPO: entropy bonus")->capture_default_str();
  cmd->add_option("--hidden", c->ppo.hidden, "PPO: units per hidden layer")->capture_default_str();
  cmd->get_option("--resume")->excludes(cmd->get_option("--overwrite"));
  cmd->footer(
      "Examples:\n  simlab train --scene cartpole-balance --algo ppo --steps 300000 --envs 64\n"
      "  simlab train --scene cartpole-balance --steps 600000 --envs 64 --resume");
  cmd->callback([c, out] {
    c->out = *out;
    run_train(*c);
  });
}

}  // namespace simlab::tools
