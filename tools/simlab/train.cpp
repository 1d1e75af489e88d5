// simlab train: headless training on a scene (learners::run_training), with a progress bar, a
// line per tenth of the run for logs, and where the results are at the end.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "engine/core/error.h"
#include "learners/trainer.h"
#include "tools/app/learn.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

// A metrics value as text ("-" when absent), scaled by `scale`.
std::string number(const nlohmann::json& value, const char* format, double scale = 1) {
  if (value.is_null()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, scale * value.get<double>());
  return text;
}

void run_train(const learners::TrainConfig& c) {
  // Under torchrun, rank 0 reports; the others only say they finished.
  const char* rank_var = std::getenv("RANK");
  const bool quiet = rank_var && std::string(rank_var) != "0";
  std::unique_ptr<Progress> progress;
  std::int64_t start_steps = -1, last_report = 0;
  nlohmann::json last;
  double waited_s = 0, learned_s = 0;  // dreamer: the learner's time waiting for data and training
  const auto result = app::train(c, [&](const nlohmann::json& row) {
    if (quiet) return;
    const auto steps = row.at("env_steps").get<std::int64_t>();
    if (start_steps < 0) {
      const bool is_dreamer = c.algo == learners::Algo::kDreamer;
      const int per_env = is_dreamer ? c.dreamer.chunk : c.ppo.horizon;
      start_steps = steps - static_cast<std::int64_t>(per_env) * c.envs;
      const std::string algo = learners::algo_name(c.algo);
      progress =
          std::make_unique<Progress>(algo + " on " + c.scene, c.steps - start_steps, "env-steps");
      const std::string randomization =
          c.randomization == scenes::Randomization::kTrain
              ? ""
              : std::string(", randomization ") + scenes::randomization_name(c.randomization);
      const std::string backend =
          c.backend == engine::physics::BackendKind::kMuJoCo
              ? ""
              : std::string(", on ") + engine::physics::backend_name(c.backend);
      std::printf("training %s with %s: %d envs, %lld env steps, seed %llu%s%s -> %s\n",
                  c.scene.c_str(), algo.c_str(), c.envs, static_cast<long long>(c.steps),
                  static_cast<unsigned long long>(c.seed), randomization.c_str(), backend.c_str(),
                  c.out.string().c_str());
    }
    progress->update(steps - start_steps);
    if (steps - last_report >= c.steps / 10 || steps >= c.steps) {
      last_report = steps;
      std::printf("  %s %5d  env steps %9lld  mean return %9s  %7.0f env-steps/s",
                  c.algo == learners::Algo::kDreamer ? "iteration" : "update",
                  row.at(c.algo == learners::Algo::kDreamer ? "iteration" : "update").get<int>(),
                  static_cast<long long>(steps), number(row.at("mean_return"), "%.1f").c_str(),
                  row.at("env_steps_per_s").get<double>());
      if (c.algo == learners::Algo::kDreamer)
        std::printf("  %lld updates  open-loop nmse %s  starvation %s",
                    static_cast<long long>(row.at("updates").get<std::int64_t>()),
                    number(row.at("openloop_nmse"), "%.3f").c_str(),
                    number(row.at("starvation"), "%.0f", 100).c_str());
      std::printf("\n");
      std::fflush(stdout);
    }
    if (c.algo == learners::Algo::kDreamer && !row.at("starvation").is_null()) {
      waited_s += row.at("wait_s").get<double>();
      learned_s += row.at("learn_s").get<double>();
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
  if (waited_s + learned_s > 0)
    std::printf("  learner starvation %.1f%% (time waiting for simulated data while training)\n",
                100 * waited_s / (waited_s + learned_s));
  std::printf("  %s/learning_curve.png: mean return against env steps\n", c.out.string().c_str());
  std::printf("  %s/metrics.jsonl, metrics.csv: one row per update\n", c.out.string().c_str());
  if (c.algo == learners::Algo::kDreamer)
    std::printf("  %s/world_model.png: the world model's open-loop predictions against real data\n",
                c.out.string().c_str());
  std::printf("  %s/checkpoint.pt: resume with --resume (same options, more --steps)\n",
              c.out.string().c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto c = std::make_shared<learners::TrainConfig>();
  auto out = std::make_shared<std::string>(c->out.string());
  auto horizon = std::make_shared<int>(0);
  auto hidden = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand(
      "train",
      "Train a policy on a scene, headless.\n"
      "  --algo dreamer: a world model (recurrent state-space model) learns the scene from "
      "streamed\n"
      "    rollouts and the actor-critic trains inside it; sample-efficient, few envs (default "
      "4).\n"
      "  --algo ppo: model-free, thousands of envs in parallel (default 64); data-parallel over\n"
      "    c10d under torchrun.");
  cmd->add_option("--scene", c->scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option_function<std::string>(
         "--algo", [c](const std::string& word) { c->algo = learners::parse_algo(word, "--algo"); },
         "ppo or dreamer")
      ->default_str("ppo");
  cmd->add_option("--steps", c->steps, "Env steps in total, over all envs")->capture_default_str();
  cmd->add_option("--envs", c->envs, "Parallel envs (default: ppo 64, dreamer 4)");
  cmd->add_option("--threads", c->threads, "Simulation and LibTorch threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--seed", c->seed, "Seed of envs, weights and sampling")->capture_default_str();
  cmd->add_option_function<std::string>(
         "--device",
         [c](const std::string& word) { c->device = learners::parse_device(word, "--device"); },
         "auto, cpu or cuda")
      ->default_str("auto");
  add_randomization_option(*cmd, c->randomization,
                           "train (the scene's domain randomization) or none (no parameter "
                           "randomization or pushes; episodes still start where the scene says)");
  add_backend_option(*cmd, c->backend);
  cmd->add_option("--out", *out, "Run folder (metrics, checkpoint)")->capture_default_str();
  cmd->add_flag("--resume", c->resume, "Continue the run in --out from its checkpoint");
  cmd->add_flag("--overwrite", c->overwrite, "Start over in an --out that holds a run");
  cmd->add_option("--checkpoint-every", c->checkpoint_every,
                  "Updates (ppo) or iterations (dreamer) between checkpoints")
      ->capture_default_str();
  cmd->add_option("--horizon", *horizon,
                  "Steps per env per update (ppo, default 64) or per iteration (dreamer, 50)");
  cmd->add_option("--hidden", *hidden, "Units per hidden layer (ppo 64, dreamer 128)");
  const std::string ppo = "PPO", dreamer = "Dreamer";
  cmd->add_option("--epochs", c->ppo.epochs, "PPO: passes over each rollout")
      ->group(ppo)
      ->capture_default_str();
  cmd->add_option("--minibatches", c->ppo.minibatches, "PPO: minibatches per epoch")
      ->group(ppo)
      ->capture_default_str();
  cmd->add_option("--lr", c->ppo.lr, "PPO: Adam learning rate")->group(ppo)->capture_default_str();
  cmd->add_option("--gamma", c->ppo.gamma, "PPO: discount")->group(ppo)->capture_default_str();
  cmd->add_option("--entropy", c->ppo.entropy_coef, "PPO: entropy bonus")
      ->group(ppo)
      ->capture_default_str();
  cmd->add_option("--train-ratio", c->dreamer.train_ratio, "Dreamer: replayed steps per env step")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--batch", c->dreamer.batch, "Dreamer: sequences per update")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--seq-len", c->dreamer.seq_len, "Dreamer: steps per sequence")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--prefill", c->dreamer.prefill,
                  "Dreamer: env steps of random actions before training")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--deter", c->dreamer.deter, "Dreamer: GRU state size")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--imagine", c->dreamer.horizon, "Dreamer: imagination horizon")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--model-lr", c->dreamer.model_lr, "Dreamer: world-model learning rate")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--actor-lr", c->dreamer.actor_lr, "Dreamer: actor and critic learning rate")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--obs", c->dreamer.obs,
                  "Dreamer: what the world model sees: state, rgb or state,rgb (64x64 frames of "
                  "the scene's first camera; the replay then holds 20000 steps, 12 KB each)")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--action-repeat", c->dreamer.action_repeat,
                  "Dreamer: env steps each action holds for (rewards summed); the policy decides "
                  "at the scene's rate / this, as DMC agents do (0: the scene's action_repeat, "
                  "4 for cartpole-swingup, else 2)")
      ->check(CLI::NonNegativeNumber)
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--imag-starts", c->dreamer.imag_starts,
                  "Dreamer: imagination start states per update (0: every replayed state)")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--actor-grad", c->dreamer.actor_grad,
                  "Dreamer: backprop (returns differentiated through the learned dynamics) or "
                  "reinforce (score function with the critic as baseline)")
      ->check(CLI::IsMember({"backprop", "reinforce"}))
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_option("--dreamer-gamma", c->dreamer.gamma, "Dreamer: discount of imagined returns")
      ->group(dreamer)
      ->capture_default_str();
  cmd->add_flag("!--no-cuda-graphs", c->dreamer.cuda_graphs,
                "Dreamer on CUDA: run updates eagerly instead of replaying one captured CUDA graph")
      ->group(dreamer);
  cmd->add_option("--lag", c->dreamer.lag,
                  "Dreamer: 1 overlaps simulation with learning (actors one iteration behind), "
                  "0 alternates")
      ->check(CLI::Range(0, 1))
      ->group(dreamer)
      ->capture_default_str();
  cmd->get_option("--resume")->excludes(cmd->get_option("--overwrite"));
  cmd->footer(
      "Examples:\n  simlab train --scene cartpole-balance --algo ppo --steps 300000 --envs 64\n"
      "  simlab train --scene cartpole-swingup --algo dreamer --steps 100000   # 874, 84 min on 1 "
      "core\n"
      "  simlab train --scene cartpole-swingup --algo dreamer --device cuda --steps 100000\n"
      "  simlab train --scene cartpole-balance --steps 600000 --envs 64 --resume");
  cmd->callback([c, out, horizon, hidden, cmd] {
    c->out = *out;
    const bool dreamer = c->algo == learners::Algo::kDreamer;
    if (cmd->count("--envs") == 0) c->envs = dreamer ? 4 : 64;
    // The scene's [train.ppo] recipe fills in what the command line leaves out.
    const std::string recipe = app::apply_scene_recipe(*c, flag_given(cmd));
    const char* rank = std::getenv("RANK");
    if (!recipe.empty() && (!rank || std::string(rank) == "0"))
      std::printf("the scene's recipe ([train.ppo]): %s\n", recipe.c_str());
    for (const auto& [flag, value] :
         {std::pair{"--horizon", *horizon}, std::pair{"--hidden", *hidden}})
      if (cmd->count(flag) > 0 && value < 1)
        throw Error(SourceLocation{.field = flag}, "must be >= 1, got " + std::to_string(value));
    if (*horizon > 0) (dreamer ? c->dreamer.chunk : c->ppo.horizon) = *horizon;
    if (*hidden > 0) (dreamer ? c->dreamer.hidden : c->ppo.hidden) = *hidden;
    c->dreamer.critic_lr = c->dreamer.actor_lr;
    // Frames are 12 KB a step: a 1M-step replay would need 12 GB.
    if (c->dreamer.image_obs())
      c->dreamer.replay = std::min<std::int64_t>(c->dreamer.replay, 20000);
    // Fields whose flag is not their own name (main() maps the rest: ppo.epochs -> --epochs).
    static const std::map<std::string, std::string> kFlags = {{"dreamer.chunk", "--horizon"},
                                                              {"dreamer.horizon", "--imagine"},
                                                              {"dreamer.gamma", "--dreamer-gamma"},
                                                              {"dreamer.critic_lr", "--actor-lr"},
                                                              {"ppo.entropy_coef", "--entropy"}};
    try {
      run_train(*c);
    } catch (const Error& e) {
      const auto it = kFlags.find(e.where().field);
      if (it == kFlags.end()) throw;
      auto where = e.where();
      where.field = it->second;
      throw Error(where, e.message());
    }
  });
}

}  // namespace simlab::tools
