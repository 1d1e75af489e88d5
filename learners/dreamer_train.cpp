// The world-model learner's loop behind `simlab train --algo dreamer`:
//
//   one VectorEnv and one RolloutStream for the whole run (actor thread: DreamerPolicy) -> per
//   iteration: chunk -> replay -> train_ratio x chunk steps replayed in updates of batch x seq_len
//   (queued on the device; their statistics read once) -> weights published for the chunk after
//   next -> metrics row (with the open-loop prediction error and starvation) -> every
//   checkpoint_every iterations a checkpoint
//
// A checkpoint holds the learner (networks, optimizers, replay, counters, random generators) and
// where the actor stands after the iteration's chunk: every env's running episode (restored by
// replaying its actions, VectorEnv::restore), the policy's recurrent state, and the weights the
// next chunk acts with. Checkpoints therefore change nothing: episodes run on across them, any
// checkpoint period gives the same run, and --resume continues it exactly.
//
// Data-parallel under torchrun's variables: every rank steps its own envs into its own replay,
// the gradients of each optimizer step are averaged over the ranks (Dreamer::set_distributed),
// and each rank keeps its own checkpoint file.
//
// Image runs (dreamer.obs rgb or state,rgb) render every env's frame in the actor thread, store
// frames as uint8 in the replay, and draw world_model.png as rows of real and predicted frames.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include "engine/core/paths.h"
#include "engine/io/image.h"
#include "learners/distributed.h"
#include "learners/dreamer.h"
#include "learners/frames.h"
#include "learners/run_folder.h"
#include "learners/stream.h"
#include "learners/threads.h"
#include "scenes/scene.h"

namespace simlab::learners::detail {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kColumns = {
    "iteration",     "env_steps",    "episodes",        "mean_return",   "updates",
    "model_loss",    "decoder_loss", "reward_loss",     "cont_loss",     "kl",
    "actor_loss",    "critic_loss",  "entropy",         "imag_return",   "return_scale",
    "openloop_nmse", "starvation",   "env_steps_per_s", "updates_per_s", "sim_s",
    "learn_s",       "wait_s",       "wall_s"};

constexpr int kOpenLoopBatch = 8, kOpenLoopContext = 5;

struct Counters {
  std::int64_t iteration = 0, env_steps = 0, episodes = 0, updates = 0;
  double credit = 0;  // replayed steps owed to the train ratio
  double wall_s = 0;
  RecentReturns recent;
};

// Per env, what the learner carries from one chunk to the next: the action and reward that led to
// the next observation, and the running return.
struct Carry {
  torch::Tensor prev_action;     // [N, act] in [-1, 1]
  torch::Tensor prev_reward;     // [N]
  torch::Tensor episode_return;  // [N] float64
};

// Where the run stands after an iteration, for its checkpoint.
struct Checkpoint {
  const Counters& counters;
  const Carry& carry;
  const StreamSnapshot& actor;               // after the iteration's chunk
  const std::vector<torch::Tensor>& acting;  // the weights the next chunk acts with (lag 1)
};

void save(const fs::path& file, const Dreamer& dreamer, const SequenceReplay& replay,
          const Checkpoint& point) {
  torch::serialize::OutputArchive archive;
  const Counters& c = point.counters;
  dreamer.save(archive);
  replay.save(archive);
  write_progress(archive, {c.iteration, c.env_steps, c.episodes, c.updates}, c.wall_s, c.recent);
  archive.write("credit", torch::tensor(c.credit, torch::kFloat64));
  archive.write("carry_action", point.carry.prev_action);
  archive.write("carry_reward", point.carry.prev_reward);
  archive.write("carry_return", point.carry.episode_return);
  write_stream_snapshot(archive, "actor", point.actor);
  for (std::size_t i = 0; i < point.acting.size(); ++i)
    archive.write("acting_" + std::to_string(i), point.acting[i]);
  archive.write("acting_count", torch::tensor(static_cast<std::int64_t>(point.acting.size())));
  fs::create_directories(file.parent_path());
  save_atomically(archive, file);
}

void load(const fs::path& file, Dreamer& dreamer, SequenceReplay& replay, Counters& c, Carry& carry,
          StreamSnapshot& actor, std::vector<torch::Tensor>& acting) {
  torch::serialize::InputArchive archive;
  try {
    load_archive(archive, file);  // checksum first, then parsed
    dreamer.load(archive, file);
    torch::Tensor count;
    archive.read("acting_count", count);
    acting.clear();
    for (std::int64_t i = 0; i < count.item<std::int64_t>(); ++i) {
      torch::Tensor w;
      archive.read("acting_" + std::to_string(i), w);
      acting.push_back(w);
    }
    archive.read("carry_action", carry.prev_action);
    archive.read("carry_reward", carry.prev_reward);
    archive.read("carry_return", carry.episode_return);
    actor = read_stream_snapshot(archive, "actor");
  } catch (const c10::Error&) {
    throw Error(SourceLocation{.file = file.string()},
                "not a readable dreamer checkpoint of this version of simlab");
  }
  replay.load(archive);
  const auto counters = read_progress(archive, c.wall_s, c.recent);
  c.iteration = counters.at(0), c.env_steps = counters.at(1);
  c.episodes = counters.at(2), c.updates = counters.at(3);
  torch::Tensor credit;
  archive.read("credit", credit);
  c.credit = credit.item<double>();
}

// What a run that stops on an error leaves to resume from.
std::string last_checkpoint(const fs::path& file) {
  return engine::path_exists(file) ? "; the last good checkpoint is " + file.string() + " (kept)"
                                   : "; no checkpoint was written yet";
}

// Predicted against real observations of one replayed sequence, a panel per dimension shown.
void draw_open_loop(const fs::path& file, const OpenLoop& o,
                    const std::vector<std::string>& names) {
  const auto h = o.real.size(1);
  std::vector<double> x;
  for (std::int64_t k = 1; k <= h; ++k)
    x.push_back(static_cast<double>(k));
  std::vector<engine::io::PlotSeries> series;
  const std::uint8_t colours[4][3] = {
      {31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {148, 103, 189}};
  const auto dims = std::min<std::int64_t>(4, o.real.size(2));
  for (std::int64_t d = 0; d < dims; ++d) {
    engine::io::PlotSeries real{.label = names[d] + " real"},
        pred{.label = names[d] + " predicted"};
    for (std::int64_t k = 0; k < h; ++k) {
      const bool valid = o.valid[0][k].item<float>() > 0;
      real.y.push_back(valid ? o.real[0][k][d].item<double>() : NAN);
      pred.y.push_back(valid ? o.predicted[0][k][d].item<double>() : NAN);
    }
    std::copy(colours[d], colours[d] + 3, real.rgb);
    // Predictions in a lighter shade of the same colour.
    for (int i = 0; i < 3; ++i)
      pred.rgb[i] = static_cast<std::uint8_t>((colours[d][i] + 255) / 2);
    series.push_back(real);
    series.push_back(pred);
  }
  engine::io::write_line_plot(file.string(),
                              "world model: open-loop prediction after " +
                                  std::to_string(kOpenLoopContext) + " observed steps",
                              "imagined step", x, series);
}

// Image runs: for each of (up to) 4 replayed sequences, a row of real frames above a row of the
// frames the model predicted open-loop from the same actions.
void draw_open_loop_frames(const fs::path& file, const OpenLoop& o) {
  const auto h = std::min<std::int64_t>(16, o.real_image.size(1));
  // Two rows per sequence, at most h rows (the grid is h x h tiles).
  const auto sequences =
      std::max<std::int64_t>(1, std::min<std::int64_t>({4, o.real_image.size(0), h / 2}));
  std::vector<torch::Tensor> rows;
  for (std::int64_t b = 0; b < sequences; ++b) {
    rows.push_back(o.real_image[b].slice(0, 0, h));
    rows.push_back(o.predicted_image[b].slice(0, 0, h));
  }
  // [rows * h, 3, S, S] in [-0.5, 0.5] -> [rows * h, S, S, 3] uint8
  const auto frames = ((torch::cat(rows, 0) + 0.5) * 255)
                          .clamp(0, 255)
                          .to(torch::kUInt8)
                          .permute({0, 2, 3, 1})
                          .contiguous();
  const int size = static_cast<int>(frames.size(1));
  // ImageGrid lays out ceil(sqrt(count)) per row: pad to a square of h columns.
  const auto count = static_cast<int>(h * h);
  engine::io::ImageGrid grid(count, size, size, 2);
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(count) * size * size * 3, 255);
  std::copy(frames.data_ptr<std::uint8_t>(), frames.data_ptr<std::uint8_t>() + frames.numel(),
            pixels.begin());
  grid.fill(pixels.data());
  const int used_height = static_cast<int>(rows.size()) * (size + grid.gap) + grid.gap;
  engine::io::write_png(file.string(), grid.width, std::min(grid.height, used_height),
                        grid.rgb.data());
}

// A chunk's [T, N] steps into each env's replay ring, in time order: every observation with the
// action and reward that led to it, and, where an episode ended, its final observation too. The
// carry holds each env's last action and reward across chunks; episode returns are counted here.
void add_chunk(const Chunk& chunk, const DreamerPolicy& policy, SequenceReplay& replay,
               Carry& carry, Counters& c) {
  const std::int64_t steps = chunk.obs.size(0), n = chunk.obs.size(1);
  const std::int64_t obs_dim = chunk.obs.size(2), act_dim = chunk.action.size(2);
  const bool images = chunk.image.defined();
  const std::int64_t frame_bytes = 3 * kFrameSize * kFrameSize;
  const auto actions = policy.normalize(chunk.action).contiguous();
  const auto obs = chunk.obs.contiguous(), final_obs = chunk.final_obs.contiguous();
  const auto first = chunk.first.accessor<float, 2>(), reward = chunk.reward.accessor<float, 2>();
  const auto terminated = chunk.terminated.accessor<float, 2>();
  const auto truncated = chunk.truncated.accessor<float, 2>();
  auto prev_reward = carry.prev_reward.accessor<float, 1>();
  auto episode_return = carry.episode_return.accessor<double, 1>();
  for (std::int64_t t = 0; t < steps; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      const bool starts = first[t][i] > 0;
      const std::int64_t row = t * n + i;
      // The step's frame; an episode's final observation reuses it (it has none of its own).
      const std::uint8_t* image =
          images ? chunk.image.data_ptr<std::uint8_t>() + row * frame_bytes : nullptr;
      const float* o = obs.data_ptr<float>() + row * obs_dim;
      const float* a = actions.data_ptr<float>() + row * act_dim;
      float* prev_action = carry.prev_action.data_ptr<float>() + i * act_dim;
      replay.add(static_cast<int>(i), o, starts ? nullptr : prev_action,
                 starts ? 0.0f : prev_reward[i], starts, false, image);
      std::copy(a, a + act_dim, prev_action);
      prev_reward[i] = reward[t][i];
      episode_return[i] += reward[t][i];
      if (terminated[t][i] > 0 || truncated[t][i] > 0) {
        // The episode's last observation, reached by this step.
        replay.add(static_cast<int>(i), final_obs.data_ptr<float>() + row * obs_dim, a,
                   reward[t][i], false, terminated[t][i] > 0, image);
        c.recent.add(episode_return[i]);
        episode_return[i] = 0;
        ++c.episodes;
      }
    }
  }
}

}  // namespace

TrainResult run_dreamer(const TrainConfig& config, const scenes::Scene& scene, const Spaces& spaces,
                        int threads, torch::Device device,
                        const std::function<void(const nlohmann::json& row)>& on_update) {
  const DreamerConfig& dc = config.dreamer;
  if (dc.chunk < 1 || dc.batch < 1 || dc.seq_len < kOpenLoopContext + 2 || dc.train_ratio <= 0)
    throw train_error("dreamer", "chunk, batch and train ratio must be positive, seq_len > 6");
  if (dc.action_repeat < 1)
    throw train_error("dreamer.action_repeat", "must be >= 1 (or 0: the scene's choice)");
  const DistributedConfig dist_config = distributed_from_env();
  const int rank = dist_config.rank, world = dist_config.world_size;
  RunFolder run(config, kColumns, /*writer=*/rank == 0);
  // Each rank keeps its own envs and replay, so its own checkpoint file.
  const fs::path checkpoint =
      rank == 0 ? run.checkpoint() : run.dir() / ("checkpoint.rank" + std::to_string(rank) + ".pt");
  // The learner on one LibTorch thread (its small matrices lose more to thread hand-offs than they
  // gain: bench dreamer --threads 2 runs 3x slower on 2 cores); the simulation gets the other
  // cores. With --threads 1 the actor and the learner take turns on one core.
  set_compute_threads(1);
  const int sim_threads = std::max(1, threads - 1);
  const int n = config.envs;

  Dreamer dreamer(spaces.obs_dim, spaces.act_dim, dc, device);
  DreamerConfig acting_config = dc;
  // Every rank's share of the prefill, in decisions.
  acting_config.prefill = (dc.prefill + world * dc.action_repeat - 1) / (world * dc.action_repeat);
  DreamerPolicy policy(spaces.obs_dim, spaces.act_dim, acting_config, spaces.low, spaces.high);
  const bool images = dc.image_obs();
  SequenceReplay replay(n, dc.replay, spaces.obs_dim, spaces.act_dim, images ? kFrameSize : 0);
  // Image runs render in the actor thread, after each reset and step (see RolloutStream).
  std::unique_ptr<FrameRenderer> frames;
  std::function<torch::Tensor(const engine::VectorEnv&)> render_frames;
  if (images) {
    frames = std::make_unique<FrameRenderer>(scene, config.seed, "dreamer.obs");
    render_frames = [&frames](const engine::VectorEnv& e) { return frames->render(e); };
  }
  Counters c;
  Carry carry{torch::zeros({n, spaces.act_dim}), torch::zeros({n}),
              torch::zeros({n}, torch::kFloat64)};
  StreamSnapshot resumed;
  std::vector<torch::Tensor> acting;  // the weights the next chunk acts with, when they are old
  if (config.resume) load(checkpoint, dreamer, replay, c, carry, resumed, acting);
  run.start(config.resume ? c.iteration : -1);
  std::unique_ptr<Distributed> dist;
  if (dist_config.enabled()) {
    dist = std::make_unique<Distributed>(dist_config, device);
    if (!config.resume) dist->broadcast(dreamer.parameters());  // rank 0's initial weights
    dreamer.set_distributed(dist.get());
    // Each rank replays and imagines with its own random numbers.
    if (!config.resume) torch::manual_seed(mix(config.seed ^ mix(0x5eed0000u + rank)));
  }

  std::vector<std::string> names;
  {
    auto probe = scenes::make_env(scene, 1, 1, config.seed);
    names = probe->observation_space().names();
  }
  // Env steps of an iteration over every rank: decisions x action repeat (an episode's end cuts a
  // repeat short, so a scene that terminates early takes somewhat fewer).
  const std::int64_t per_chunk = static_cast<std::int64_t>(dc.chunk) * n * dc.action_repeat;
  const std::int64_t per_iteration = per_chunk * world;
  const std::int64_t iterations = (config.steps + per_iteration - 1) / per_iteration;
  const double per_update = static_cast<double>(dc.batch) * dc.seq_len * world;
  auto checkpoint_after = [&](std::int64_t iteration) {
    return iteration % config.checkpoint_every == 0 || iteration == iterations;
  };
  std::uint64_t env_seed = mix(config.seed ^ mix(0)), stream_seed = mix(config.seed ^ 0xac7000);
  if (rank > 0) {
    env_seed = mix(env_seed ^ mix(rank));
    stream_seed = mix(stream_seed ^ mix(rank));
  }
  auto env =
      scenes::make_env(scene, n, sim_threads, env_seed, /*snapshots=*/true, dc.action_repeat);
  if (!config.resume) policy.start(0, n);
  RolloutStream stream(*env, policy,
                       {.steps = dc.chunk,
                        .lag = dc.lag,
                        .first_chunk = c.iteration,
                        .chunks = iterations - c.iteration,
                        .seed = stream_seed,
                        .serial = threads == 1,
                        .snapshot_after = [&](std::int64_t k) { return checkpoint_after(k + 1); },
                        .start = config.resume ? &resumed : nullptr,
                        .frames = render_frames});
  // Versions start at max(0, iteration - lag): after a resume with lag 1 the next chunk acts with
  // the weights of one iteration back, which the checkpoint kept.
  std::vector<torch::Tensor> published = dreamer.policy_weights(), before = published;
  if (dc.lag == 1 && c.iteration > 0) {
    stream.publish(acting);
    before = acting;
  }
  stream.publish(published);

  const auto start = std::chrono::steady_clock::now();
  const double wall_before = c.wall_s;
  DreamerStats stats;
  double openloop = NAN;
  OpenLoop last_open_loop;
  while (c.iteration < iterations) {
    const double waited_before = stream.learner_wait_s();
    const auto t0 = std::chrono::steady_clock::now();
    const Chunk chunk = stream.next();
    const double wait_s = stream.learner_wait_s() - waited_before;
    add_chunk(chunk, policy, replay, carry, c);
    c.env_steps += per_iteration;
    const auto t1 = std::chrono::steady_clock::now();
    int updates = 0;
    try {
      if (c.env_steps >= dc.prefill) {
        c.credit += static_cast<double>(per_iteration) * dc.train_ratio;
        while (c.credit >= per_update && replay.can_sample(dc.seq_len)) {
          dreamer.update(replay.sample(dc.batch, dc.seq_len));  // queued: nothing waits here
          c.credit -= per_update;
          ++updates;
        }
        if (updates > 0) {
          stats = dreamer.stats();  // the iteration's one wait for the device
          last_open_loop =
              dreamer.open_loop(replay.sample(kOpenLoopBatch, dc.seq_len), kOpenLoopContext);
          openloop = last_open_loop.nmse.mean().item<double>();
        }
      }
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      // CUDA's "out of memory"; the CPU allocator's "can't allocate memory" (1.13) or "not
      // enough memory".
      if (what.find("out of memory") == std::string::npos &&
          what.find("not enough memory") == std::string::npos &&
          what.find("allocate memory") == std::string::npos)
        throw;
      throw train_error("dreamer.batch", "the device ran out of memory in an update of " +
                                             std::to_string(dc.batch) + " sequences x " +
                                             std::to_string(dc.seq_len) + " steps (" +
                                             std::to_string(dc.imag_starts) +
                                             " imagination starts); lower --batch, --seq-len or "
                                             "--imag-starts" +
                                             last_checkpoint(checkpoint));
    } catch (const Error& e) {  // a loss that is not finite
      throw Error(e.where(), e.message() + " at iteration " + std::to_string(c.iteration + 1) +
                                 last_checkpoint(checkpoint));
    }
    c.updates += updates;
    ++c.iteration;
    // The weights for the chunk after next (lag 1) or the next one (lag 0). A run that stops here
    // keeps them too: its checkpoint may be resumed with more --steps.
    before = std::move(published);
    published = dreamer.policy_weights();
    if (c.iteration < iterations) stream.publish(published);
    const auto t2 = std::chrono::steady_clock::now();
    const double learn_s = std::chrono::duration<double>(t2 - t1).count();
    const double iteration_s = std::chrono::duration<double>(t2 - t0).count();
    c.wall_s = wall_before + std::chrono::duration<double>(t2 - start).count();
    auto num = [](double v) {
      return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    };
    const bool trained = c.updates > 0;
    const nlohmann::json row = {
        {"iteration", c.iteration},
        {"env_steps", c.env_steps},
        {"episodes", c.episodes},
        {"mean_return", c.recent.mean()},
        {"updates", c.updates},
        {"model_loss", trained ? num(stats.model_loss) : nullptr},
        {"decoder_loss", trained ? num(stats.decoder_loss) : nullptr},
        {"reward_loss", trained ? num(stats.reward_loss) : nullptr},
        {"cont_loss", trained ? num(stats.cont_loss) : nullptr},
        {"kl", trained ? num(stats.kl) : nullptr},
        {"actor_loss", trained ? num(stats.actor_loss) : nullptr},
        {"critic_loss", trained ? num(stats.critic_loss) : nullptr},
        {"entropy", trained ? num(stats.entropy) : nullptr},
        {"imag_return", trained ? num(stats.imag_return) : nullptr},
        {"return_scale", trained ? num(stats.return_scale) : nullptr},
        {"openloop_nmse", num(openloop)},
        // Starvation counts iterations that trained (during the prefill the learner only waits).
        {"starvation",
         updates > 0 ? nlohmann::json(wait_s / iteration_s) : nlohmann::json(nullptr)},
        {"env_steps_per_s", static_cast<double>(per_iteration) / iteration_s},
        {"updates_per_s", updates / std::max(learn_s, 1e-9)},
        {"sim_s", chunk.sim_s},
        {"learn_s", learn_s},
        {"wait_s", wait_s},
        {"wall_s", c.wall_s}};
    run.append(row);
    if (checkpoint_after(c.iteration)) {
      SIMLAB_CHECK(chunk.snapshot) << "the stream did not snapshot chunk " << chunk.index;
      // The next chunk acts with `before` (lag 1: one version back) or `published` (lag 0).
      save(checkpoint, dreamer, replay,
           {c, carry, *chunk.snapshot, dc.lag == 1 ? before : published});
      if (run.writer()) {
        run.draw_curve();
        if (last_open_loop.real_image.defined())
          draw_open_loop_frames(run.dir() / "world_model.png", last_open_loop);
        else if (last_open_loop.predicted.defined())
          draw_open_loop(run.dir() / "world_model.png", last_open_loop, names);
      }
    }
    if (on_update) on_update(row);
  }
  return {
      .rank = rank, .world_size = world, .parameters = parameter_fingerprint(dreamer.parameters())};
}

}  // namespace simlab::learners::detail
