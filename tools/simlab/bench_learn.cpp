// simlab bench dreamer: the world-model learner's update rate on a scene's replayed data, at the
// issue's batch (16 sequences x 64 steps), next to a matrix-multiply baseline measured in the same
// run, so figures from a busy or different machine compare as ratios.
#include <chrono>
#include <cstdio>
#include <memory>

#include "engine/core/error.h"
#include "learners/dreamer.h"
#include "learners/frames.h"
#include "scenes/scene.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct BenchDreamerOptions {
  std::string scene = "cartpole-swingup";
  int updates = 20, batch = 16, seq_len = 64, threads = 1;
  learners::DreamerConfig config;
  std::string device = "cpu";
};

double seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void run_bench_dreamer(const BenchDreamerOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  torch::manual_seed(0);
  const auto scene = scenes::compile_scene(scenes::load_scene(scenes::resolve_scene(o.scene)), 0);
  learners::DreamerConfig config = o.config;
  if (!config.state_obs() && !config.image_obs())
    throw Error(SourceLocation{.field = "--obs"},
                "'" + config.obs + "': expected state, rgb or state,rgb");
  // Replay from random actions: 8 envs x 500 steps (with their rendered frames for --obs rgb).
  const int envs = 8, steps = 500;
  std::unique_ptr<learners::FrameRenderer> frames;
  if (config.image_obs()) frames = std::make_unique<learners::FrameRenderer>(scene, 0, "--obs");
  auto env = scenes::make_env(scene, envs, 1, 0);
  const int obs_dim = env->observation_space().dim(), act_dim = env->action_space().dim();
  learners::SequenceReplay replay(envs, envs * steps, obs_dim, act_dim,
                                  frames ? learners::kFrameSize : 0);
  env->reset();
  const engine::Batch* batch = &env->reset();
  auto action = torch::zeros({envs, act_dim});
  for (int t = 0; t < steps; ++t) {
    const auto image = frames ? frames->render(*env) : torch::Tensor();
    for (int i = 0; i < envs; ++i)
      replay.add(i, batch->obs.data() + i * obs_dim, t ? action[i].data_ptr<float>() : nullptr,
                 t ? batch->reward(i, 0) : 0.0f, t == 0, false,
                 frames ? image[i].data_ptr<std::uint8_t>() : nullptr);
    action = torch::rand({envs, act_dim}) * 2 - 1;
    batch = &env->step(std::span<const float>(action.data_ptr<float>(), action.numel()));
  }
  config.batch = o.batch;
  config.seq_len = o.seq_len;
  const torch::Device device(o.device == "cuda" ? torch::kCUDA : torch::kCPU);
  learners::Dreamer dreamer(obs_dim, act_dim, config, device);
  dreamer.train(replay.sample(o.batch, o.seq_len));  // warm-up

  double model_s = 0, behaviour_s = 0;
  auto t = std::chrono::steady_clock::now();
  for (int u = 0; u < o.updates; ++u) {
    const auto stats = dreamer.train(replay.sample(o.batch, o.seq_len));
    model_s += stats.model_s;
    behaviour_s += stats.behaviour_s;
  }
  const double total_s = seconds(t);

  // Baseline: float32 matrix multiplies of the world model's widest layer shape.
  const auto a = torch::randn({o.batch * o.seq_len, 512}), w = torch::randn({512, 512});
  torch::Tensor sink = torch::mm(a, w);
  int reps = 0;
  t = std::chrono::steady_clock::now();
  while (seconds(t) < 1.0) {
    sink = torch::mm(a, w);
    ++reps;
  }
  const double gflops = 2.0 * a.size(0) * 512 * 512 * reps / seconds(t) / 1e9;
  const double per_update = total_s / o.updates;
  std::printf("bench dreamer: %s, obs %s, batch %d x %d, %d updates, %d LibTorch threads, %s\n",
              o.scene.c_str(), config.obs.c_str(), o.batch, o.seq_len, o.updates,
              at::get_num_threads(), o.device.c_str());
  std::printf("  %-34s %9.2f updates/s  (%.0f ms each)\n", "full update (model + imagination)",
              1.0 / per_update, 1000 * per_update);
  std::printf("  %-34s %9.2f updates/s  (%.0f ms each)\n", "world model alone", o.updates / model_s,
              1000 * model_s / o.updates);
  std::printf("  %-34s %9.2f updates/s  (%.0f ms each)\n", "actor-critic in imagination",
              o.updates / behaviour_s, 1000 * behaviour_s / o.updates);
  std::printf(
      "  baseline: %.1f GFLOP/s in [%d x 512] x [512 x 512] matmuls; one full update costs "
      "as much time as %.1f GFLOP of them\n",
      gflops, o.batch * o.seq_len, gflops * per_update);
}

}  // namespace

void add_bench_dreamer_command(CLI::App& bench) {
  auto o = std::make_shared<BenchDreamerOptions>();
  auto* cmd = bench.add_subcommand(
      "dreamer", "World-model learner: updates/s at batch 16 x 64, beside a matmul baseline");
  cmd->add_option("--scene", o->scene, "Scene whose random-action data is replayed")
      ->capture_default_str();
  cmd->add_option("--updates", o->updates, "Timed updates")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Sequences per update")->capture_default_str();
  cmd->add_option("--seq-len", o->seq_len, "Steps per sequence")->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "LibTorch threads (0: all cores; 1 is what training uses)")
      ->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--obs", o->config.obs,
                  "state, rgb or state,rgb (64x64 frames of the scene's first camera)")
      ->capture_default_str();
  cmd->add_option("--deter", o->config.deter, "GRU state size")->capture_default_str();
  cmd->add_option("--hidden", o->config.hidden, "Units per MLP layer")->capture_default_str();
  cmd->add_option("--imagine", o->config.horizon, "Imagination horizon")->capture_default_str();
  cmd->add_option("--starts", o->config.imag_starts, "Imagination start states")
      ->capture_default_str();
  cmd->callback([o] { run_bench_dreamer(*o); });
}

}  // namespace simlab::tools
