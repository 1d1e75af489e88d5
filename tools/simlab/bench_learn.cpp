// simlab bench dreamer: the world-model learner's update rate on a scene's replayed data, next to
// matrix-multiply baselines measured in the same run, so figures from a busy or different machine
// compare as ratios.
//
//   replay of random actions (8 envs x 500 steps) -> warm-up updates (on CUDA: until the update is
//   captured as a graph) -> timed updates, the device synchronized once at the end -> updates/s,
//   sequences/s, achieved FLOP/s (Dreamer::update_flops) against the measured matmul peak
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "engine/core/error.h"
#include "learners/cuda_graph.h"
#include "learners/dreamer.h"
#include "learners/frames.h"
#include "learners/threads.h"
#include "learners/trainer.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct BenchDreamerOptions {
  std::string scene = "cartpole-swingup";
  int updates = 20, threads = 1;
  learners::DreamerConfig config;
  learners::DeviceChoice device = learners::DeviceChoice::kCpu;
  bool json = false;
};

double seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// FLOP/s of [m x k] x [k x n] products of `dtype` on `device`, for about `budget_s` seconds.
double matmul_flops(std::int64_t m, std::int64_t k, std::int64_t n, torch::Dtype dtype,
                    torch::Device device, double budget_s) {
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const auto a = torch::randn({m, k}, options), b = torch::randn({k, n}, options);
  auto out = torch::mm(a, b);
  if (device.is_cuda()) torch::cuda::synchronize();
  int reps = 0;
  const auto t = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < 8; ++i)
      out = torch::mm(a, b);
    reps += 8;
    if (device.is_cuda()) torch::cuda::synchronize();
  } while (seconds(t) < budget_s);
  return 2.0 * static_cast<double>(m * k * n) * reps / seconds(t);
}

void run_bench_dreamer(const BenchDreamerOptions& o) {
  if (o.updates < 1) throw Error(SourceLocation{.field = "--updates"}, "must be >= 1");
  if (o.config.batch < 1) throw Error(SourceLocation{.field = "--batch"}, "must be >= 1");
  if (o.config.seq_len < 2) throw Error(SourceLocation{.field = "--seq-len"}, "must be >= 2");
  if (o.threads < 0) throw Error(SourceLocation{.field = "--threads"}, "must be >= 0");
  learners::set_compute_threads(
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
  const torch::Device device = learners::resolve_device(o.device);
  torch::manual_seed(0);
  const auto scene = app::build_scene(app::RunSpec{.scene = o.scene});
  const learners::DreamerConfig& config = o.config;
  if (!config.state_obs() && !config.image_obs())
    throw Error(SourceLocation{.field = "--obs"},
                "'" + config.obs + "': expected state, rgb or state,rgb");
  // Replay from random actions: 8 envs x 500 steps (with their rendered frames for --obs rgb).
  const int envs = 8, steps = std::max(500, config.seq_len + 1);
  std::unique_ptr<learners::FrameRenderer> frames;
  if (config.image_obs()) frames = std::make_unique<learners::FrameRenderer>(scene, 0, "obs");
  auto env = app::make_envs(app::RunSpec{.scene = o.scene, .envs = envs, .threads = 1}, scene);
  const int obs_dim = env->observation_space().dim(), act_dim = env->action_space().dim();
  learners::SequenceReplay replay(envs, static_cast<std::int64_t>(envs) * steps, obs_dim, act_dim,
                                  frames ? learners::kFrameSize : 0);
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
  learners::Dreamer dreamer(obs_dim, act_dim, config, device);
  // Warm-up: allocations settle; on CUDA the update is captured after its eager warm-up calls.
  for (int u = 0; u < 5; ++u)
    dreamer.update(replay.sample(config.batch, config.seq_len));
  dreamer.stats();

  const auto t = std::chrono::steady_clock::now();
  for (int u = 0; u < o.updates; ++u)
    dreamer.update(replay.sample(config.batch, config.seq_len));
  const auto stats = dreamer.stats();  // waits for the last update
  const double total_s = seconds(t);
  const double per_update = total_s / o.updates;
  const double flops = dreamer.update_flops(config.batch, config.seq_len);
  const double achieved = flops / per_update;

  // Baselines: float32 products of the world model's token count by a 512-wide layer (the shape
  // of the learner's own matrices), and the device's large-matrix peak.
  const double budget = 0.5;
  const double small = matmul_flops(static_cast<std::int64_t>(config.batch) * config.seq_len, 512,
                                    512, torch::kFloat32, device, budget);
  const double peak32 = matmul_flops(2048, 2048, 2048, torch::kFloat32, device, budget);
  const double peak16 =
      device.is_cuda() ? matmul_flops(8192, 8192, 8192, torch::kBFloat16, device, budget) : 0;
  const auto blas = learners::blas_info();

  nlohmann::json j = {{"scene", o.scene},
                      {"obs", config.obs},
                      {"device", device.str()},
                      {"threads", o.threads},
                      {"batch", config.batch},
                      {"seq_len", config.seq_len},
                      {"actor_grad", config.actor_grad},
                      {"imag_starts", config.imag_starts},
                      {"updates", o.updates},
                      {"cuda_graph", dreamer.graphed()},
                      {"updates_per_s", 1.0 / per_update},
                      {"ms_per_update", 1000 * per_update},
                      {"sequences_per_s", config.batch / per_update},
                      {"update_gflop", flops / 1e9},
                      {"achieved_gflops", achieved / 1e9},
                      {"matmul_gflops_fp32_layer", small / 1e9},
                      {"matmul_gflops_fp32_peak", peak32 / 1e9},
                      {"update_in_layer_gflop", small * per_update / 1e9},
                      {"model_loss", stats.model_loss}};
  if (peak16 > 0) j["matmul_gflops_bf16_peak"] = peak16 / 1e9;
  if (!blas.core.empty()) j["openblas_core"] = blas.core;
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf(
      "bench dreamer: %s, obs %s, batch %d x %d, actor grad %s, %d timed updates, %s, %d LibTorch "
      "threads%s%s\n",
      o.scene.c_str(), config.obs.c_str(), config.batch, config.seq_len, config.actor_grad.c_str(),
      o.updates, device.str().c_str(), at::get_num_threads(),
      dreamer.graphed() ? ", CUDA graph" : "",
      blas.core.empty() ? "" : (", OpenBLAS " + blas.core).c_str());
  std::printf("  full update (model + imagination)  %9.2f updates/s  (%.1f ms each)\n",
              1.0 / per_update, 1000 * per_update);
  std::printf("  sequences of %d steps              %9.1f /s\n", config.seq_len,
              config.batch / per_update);
  std::printf(
      "  dense-layer work                   %9.2f GFLOP per update, %.1f GFLOP/s achieved\n",
      flops / 1e9, achieved / 1e9);
  std::printf(
      "  baseline: fp32 [%d x 512] x [512 x 512] %.1f GFLOP/s (one update costs the time "
      "of %.1f GFLOP of them); fp32 2048^3 %.1f GFLOP/s (achieved/peak %.3f)",
      config.batch * config.seq_len, small / 1e9, small * per_update / 1e9, peak32 / 1e9,
      achieved / peak32);
  if (peak16 > 0) std::printf("; bf16 8192^3 %.0f GFLOP/s", peak16 / 1e9);
  std::printf("\n");
}

}  // namespace

void add_bench_dreamer_command(CLI::App& bench) {
  auto o = std::make_shared<BenchDreamerOptions>();
  auto* cmd = bench.add_subcommand(
      "dreamer",
      "World-model learner: updates/s, sequences/s and achieved FLOP/s beside the matmul peak");
  cmd->add_option("--scene", o->scene, "Scene whose random-action data is replayed")
      ->capture_default_str();
  cmd->add_option("--updates", o->updates, "Timed updates")->capture_default_str();
  cmd->add_option("--batch", o->config.batch, "Sequences per update")->capture_default_str();
  cmd->add_option("--seq-len", o->config.seq_len, "Steps per sequence")->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "LibTorch and BLAS threads (0: all cores; 1 is what training uses)")
      ->capture_default_str();
  cmd->add_option_function<std::string>(
         "--device",
         [o](const std::string& word) { o->device = learners::parse_device(word, "--device"); },
         "cpu, cuda or auto")
      ->default_str("cpu");
  cmd->add_option("--obs", o->config.obs,
                  "state, rgb or state,rgb (64x64 frames of the scene's first camera)")
      ->capture_default_str();
  cmd->add_option("--deter", o->config.deter, "GRU state size")->capture_default_str();
  cmd->add_option("--hidden", o->config.hidden, "Units per MLP layer")->capture_default_str();
  cmd->add_option("--imagine", o->config.horizon, "Imagination horizon")->capture_default_str();
  cmd->add_option("--starts", o->config.imag_starts,
                  "Imagination start states (0: every replayed state)")
      ->capture_default_str();
  cmd->add_option("--actor-grad", o->config.actor_grad, "backprop or reinforce")
      ->check(CLI::IsMember({"backprop", "reinforce"}))
      ->capture_default_str();
  cmd->add_flag("!--no-cuda-graphs", o->config.cuda_graphs,
                "On CUDA, run updates eagerly instead of replaying a captured graph");
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_dreamer(*o); });
}

}  // namespace simlab::tools
