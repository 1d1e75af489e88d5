#include "tools/app/gen_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/memory.h"
#include "engine/core/rng.h"
#include "engine/episode_rollout.h"
#include "engine/io/hash.h"
#ifdef SIMLAB_HAS_RENDER
#include "engine/render/batch_renderer.h"
#include "scenes/render_camera.h"
#endif

namespace simlab::app {
namespace {

namespace io = engine::io;
using nlohmann::json;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Each episode in flight holds a world and its recording (frames included) until it is written:
// refuse a count that cannot fit before anything is allocated or created.
void require_gen_memory(const GenSpec& spec) {
  const auto& o = spec.options;
  const std::int64_t n = std::min<std::int64_t>(o.run.envs, o.episodes);
  const engine::EpisodeRollout probe(spec.scene.variants, spec.config, 0);
  const auto& L = spec.layout;
  const std::size_t steps = spec.config.max_episode_steps > 0
                                ? static_cast<std::size_t>(spec.config.max_episode_steps)
                                : 1000;
  const std::size_t px = static_cast<std::size_t>(L.width) * L.height;
  const std::size_t record =
      (steps + 1) * (4 * static_cast<std::size_t>(L.obs_dim) + (L.rgb ? 3 * px : 0) +
                     (L.depth ? 4 * px : 0) + (L.seg ? 4 * px : 0)) +
      steps * (4 * static_cast<std::size_t>(L.act_dim) + 5 +
               8 * static_cast<std::size_t>(probe.state_dim()));
  const std::size_t world = probe.world().bytes();
  // Without images each thread runs one episode at a time (simulate()).
  const std::int64_t threads = o.run.threads > 0 ? o.run.threads : tbb::info::default_concurrency();
  engine::require_memory(world + record, L.has_images() ? n : std::min(n, threads),
                         "episodes in flight",
                         "physics state " + engine::format_bytes(static_cast<double>(world)) +
                             ", recording " + engine::format_bytes(static_cast<double>(record)),
                         SourceLocation{.field = "envs"});
}

}  // namespace

GenSpec prepare_gen(const GenOptions& o) {
  if (o.run.scene.empty())
    throw Error(SourceLocation{.field = "scene"},
                "required: a built-in scene name or a spec file (see `simlab scenes list`)");
  if (o.run.envs < 1) throw Error(SourceLocation{.field = "envs"}, "must be >= 1");
  if (o.episodes < 1 || o.episodes > 0x7fffffff)
    throw Error(SourceLocation{.field = "episodes"}, "must be in [1, 2^31)");
  if (o.max_steps < 0) throw Error(SourceLocation{.field = "max_steps"}, "must be >= 0");
  if (o.compression < 0 || o.compression > 9)
    throw Error(SourceLocation{.field = "compression"}, "must be a deflate level in [0, 9]");
  GenSpec s{.options = o, .policy = PolicySource::parse(o.policy)};  // loaded with the scene

  auto& L = s.layout;
  L.state = false;
  for (const auto& key : split(o.obs, ',')) {
    if (key == "state") {
      L.state = true;
    } else if (key == "rgb") {
      L.rgb = true;
    } else if (key == "depth") {
      L.depth = true;
    } else if (key == "seg") {
      L.seg = true;
    } else {
      const auto guess = scenes::did_you_mean(key, {"state", "rgb", "depth", "seg"});
      throw Error(SourceLocation{.field = "obs"},
                  "unknown observation '" + key + "'" +
                      (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                      " (known: state, rgb, depth, seg)");
    }
  }
  if (!L.state && !L.has_images())
    throw Error(SourceLocation{.field = "obs"}, "name at least one of state, rgb, depth, seg");
  if (L.has_images()) {
#ifndef SIMLAB_HAS_RENDER
    throw Error(SourceLocation{.field = "obs"},
                "rgb, depth and seg need the Vulkan renderer, and this simlab was built without "
                "it (SIMLAB_WITH_VULKAN=OFF); use --obs state");
#endif
    char x = 0;
    if (std::sscanf(o.res.c_str(), "%d%c%d", &L.width, &x, &L.height) != 3 || x != 'x' ||
        L.width < 1 || L.height < 1 || L.width > 4096 || L.height > 4096)
      throw Error(SourceLocation{.field = "res"},
                  "expected WIDTHxHEIGHT, e.g. 64x64; got '" + o.res + "'");
  }
  L.compression = o.compression;

  const auto spec = load_spec(o.run);
  // Variant v depends on (seed, v) only, and episode k runs variant k % V: generating fewer than
  // V variants for a small job (k < episodes <= V) maps every episode to the same variant.
  RunSpec run = o.run;
  run.max_variants = spec.procedural.empty()
                         ? 0
                         : std::max(1, std::min<int>(std::max(1, spec.procedural.variants),
                                                     static_cast<int>(o.episodes)));
  s.scene = build_scene(run, spec);
  s.config = episode_config(run, s.scene);
  if (o.max_steps > 0) s.config.max_episode_steps = o.max_steps;
  if (!o.camera.empty()) {
    s.camera = scenes::find_camera(spec, o.camera);
  } else if (!spec.cameras.empty()) {
    s.camera = 0;
  }

  const auto& v0 = s.scene.variants[0];
  const auto& obs_space = v0.task.observe ? v0.task.observation : v0.model->info().observation;
  const auto& act_space = v0.model->info().action;
  L.obs_dim = obs_space.dim();
  L.act_dim = act_space.dim();
  L.obs_names = obs_space.names();
  L.act_names = act_space.names();
  L.terms = io::obs_terms(obs_space);
  std::string policy_hash;
  if (s.policy.exported()) scenes::require_actions(s.scene, "policy");
  s.policy.bind(obs_space, act_space);
  if (s.policy.exported()) {
    const std::string bytes = read_text(o.policy);
    io::Fnv1a64 h;
    h.add(bytes.data(), bytes.size());
    policy_hash = h.hex();
  }

  const std::string spec_text = read_text(spec.file);
  io::Fnv1a64 spec_hash;
  spec_hash.add(spec_text.data(), spec_text.size());
  const std::string camera_name =
      L.has_images() ? (s.camera >= 0 ? spec.cameras[s.camera].name : "default") : "";
  s.job = {{"scene", spec.name},
           {"scene_spec_hash", spec_hash.hex()},
           {"seed", o.run.seed},
           {"episodes", o.episodes},
           {"policy", o.policy},
           {"obs", L.modalities()},
           {"res", L.has_images() ? json::array({L.width, L.height}) : json::array()},
           {"camera", camera_name},
           {"max_episode_steps", s.config.max_episode_steps},
           {"frame_skip", s.config.frame_skip}};
  if (!policy_hash.empty()) s.job["policy_hash"] = policy_hash;  // the file's bytes, not its path
  // Only when not the default, so that folders written before --backend still resume and merge.
  if (o.run.backend != engine::physics::BackendKind::kMuJoCo)
    s.job["backend"] = engine::physics::backend_name(o.run.backend);
  // robomimic's env metadata: `type` 2 is its EnvType.GYM_TYPE, so create_env_from_metadata calls
  // gym.make(env_name, **env_kwargs), and `import simlab` registers env_name; what simlab itself
  // records goes under "simlab" (README: "env_args").
  std::error_code ec;
  const bool builtin =
      std::filesystem::equivalent(spec.file.parent_path(), scenes::scene_dir(), ec) &&
      spec.file.stem() == spec.name;
  json env_kwargs = {{"scene", builtin ? spec.name : std::filesystem::absolute(spec.file).string()},
                     {"seed", o.run.seed},
                     {"backend", engine::physics::backend_name(o.run.backend)},
                     {"randomization", "train"}};
  json terms = json::array();
  for (const auto& t : L.state_terms())
    terms.push_back({{"key", t.key}, {"term", t.term}, {"names", t.names}});
  json about = {
      {"schema", 2},
      {"scene", spec.name},
      {"scene_file", spec.file.string()},
      {"scene_spec", spec_text},
      {"scene_spec_hash", spec_hash.hex()},
      {"backend", engine::physics::backend_name(o.run.backend)},
      {"seed", o.run.seed},
      {"randomization", "train"},
      {"control_hz", spec.control_hz},
      {"frame_skip", s.config.frame_skip},
      {"max_episode_steps", s.config.max_episode_steps},
      {"policy", o.policy},
      {"obs_keys", L.obs_keys()},
      {"obs_terms", terms},
      {"obs_names", L.obs_names},
      {"action_names", L.act_names},
      {"action_low", act_space.low()},
      {"action_high", act_space.high()},
      {"camera", camera_name},
      {"res", L.has_images() ? json::array({L.width, L.height}) : json::array()},
      {"variants", s.scene.variant_summary},
      {"episode_k",
       "the first episode of env k of a VectorEnv with this seed (variant k % variants)"},
      {"per_episode", "data/demo_K.attrs['env_args']: variant and randomized parameters"}};
  s.env_args = json{
      {"env_name", builtin ? "simlab/" + spec.name + "-v0" : "simlab/Scene-v0"},
      {"type", 2},
      {"env_kwargs", env_kwargs},
      {"simlab",
       about}}.dump();
  require_gen_memory(s);
  return s;
}

namespace {

struct Slot {
  std::unique_ptr<engine::EpisodeRollout> rollout;
  std::unique_ptr<io::Episode> episode;
  engine::Rng policy{0, 0, 0};
  std::vector<float> action;
  std::vector<float> prev;  // the previous action (an exported policy reads it)
  std::vector<double> state;
  int frames = 0;  // image frames recorded (with images, a rollout steps only once its current
                   // observation has its frame)
};

// Episode k's settings recorded beside its data: variant and what randomization changed.
std::string episode_env_args(const GenSpec& spec, const engine::EpisodeRollout& r) {
  json changed = json::array();
  const auto& model = *spec.scene.variants[r.variant()].model;
  for (const auto& c : scenes::randomized_params(model, r.world()))
    changed.push_back({{"param", scenes::param_label(c.param)},
                       {"element", c.element},
                       {"value", c.value},
                       {"model", c.model_value}});
  return json{{"episode", r.index()},
              {"seed", spec.options.run.seed},
              {"variant", r.variant()},
              {"variant_summary",
               spec.scene.variant_summary.empty() ? "" : spec.scene.variant_summary[r.variant()]},
              {"randomized", changed}}
      .dump();
}

void start(const GenSpec& spec, Slot& slot, std::int64_t k) {
  slot.rollout = std::make_unique<engine::EpisodeRollout>(spec.scene.variants, spec.config, k);
  const auto& r = *slot.rollout;
  auto e = std::make_unique<io::Episode>();
  e->index = k;
  e->variant = r.variant();
  e->state_dim = r.state_dim();
  e->env_args = episode_env_args(spec, r);
  const auto& L = spec.layout;
  const std::size_t steps = spec.config.max_episode_steps > 0
                                ? static_cast<std::size_t>(spec.config.max_episode_steps)
                                : 256;
  e->obs.reserve((steps + 1) * L.obs_dim);
  e->actions.reserve(steps * L.act_dim);
  e->rewards.reserve(steps);
  e->dones.reserve(steps);
  e->states.reserve(steps * r.state_dim());
  e->obs.insert(e->obs.end(), r.obs().begin(), r.obs().end());
  slot.episode = std::move(e);
  slot.policy = engine::Rng(spec.options.run.seed, static_cast<std::uint32_t>(k), 0,
                            engine::rng_stream::kPolicy);
  slot.action.assign(static_cast<std::size_t>(L.act_dim), 0.0f);
  slot.prev = spec.policy.safe_action();
  slot.state.assign(static_cast<std::size_t>(r.state_dim()), 0.0);
  slot.frames = 0;
}

void step(const GenSpec& spec, Slot& slot) {
  auto& r = *slot.rollout;
  auto& e = *slot.episode;
  // One observation per call (batch 1) for an exported policy: the same arithmetic whatever
  // --envs is. A random one draws uniformly over its variant's action space.
  spec.policy.act(r.obs(), slot.prev, slot.action, slot.policy,
                  spec.scene.variants[r.variant()].model->info().action);
  slot.prev = slot.action;
  r.read_state(slot.state);
  const auto s = r.step(slot.action);
  e.states.insert(e.states.end(), slot.state.begin(), slot.state.end());
  e.actions.insert(e.actions.end(), slot.action.begin(), slot.action.end());
  e.rewards.push_back(s.reward);
  e.dones.push_back(r.done() ? 1 : 0);
  e.obs.insert(e.obs.end(), r.obs().begin(), r.obs().end());
  e.steps = r.steps();
  e.terminated = s.terminated;
}

#ifdef SIMLAB_HAS_RENDER
// One camera image of every slot per call, always for every slot (an idle slot draws a busy
// one's world again) so that the renderer keeps one atlas size.
class SlotRenderer {
 public:
  SlotRenderer(const GenSpec& spec, int slots)
      : spec_(spec),
        renderer_(models(spec), {.width = spec.layout.width, .height = spec.layout.height}),
        worlds_(slots),
        variants_(slots),
        cameras_(slots) {}

  // Render and append a frame to every slot whose current observation has none.
  void render(std::vector<Slot>& slots) {
    const Slot* any = nullptr;
    for (const auto& s : slots)
      if (s.rollout) any = &s;
    if (!any) return;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const Slot& s = slots[i].rollout ? slots[i] : *any;
      const auto& r = *s.rollout;
      worlds_[i] = &r.world();
      variants_[i] = r.variant();
      cameras_[i] = camera(r);
    }
    renderer_.render(worlds_, variants_, cameras_);
    const auto& L = spec_.layout;
    const std::size_t px = static_cast<std::size_t>(L.width) * L.height;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (!s.rollout || s.frames > s.rollout->steps()) continue;
      auto& e = *s.episode;
      if (L.rgb)
        e.rgb.insert(e.rgb.end(), renderer_.rgb().begin() + i * px * 3,
                     renderer_.rgb().begin() + (i + 1) * px * 3);
      if (L.depth)
        e.depth.insert(e.depth.end(), renderer_.depth().begin() + i * px,
                       renderer_.depth().begin() + (i + 1) * px);
      if (L.seg)
        e.seg.insert(e.seg.end(), renderer_.segmentation().begin() + i * px,
                     renderer_.segmentation().begin() + (i + 1) * px);
      ++s.frames;
    }
  }

 private:
  static std::vector<std::shared_ptr<const engine::physics::Model>> models(const GenSpec& spec) {
    std::vector<std::shared_ptr<const engine::physics::Model>> out;
    for (const auto& v : spec.scene.variants)
      out.push_back(v.model);
    return out;
  }

  // Episode k is seen as env k of `simlab render` with the same seed would be.
  engine::render::Camera camera(const engine::EpisodeRollout& r) const {
    return scenes::render_camera(spec_.scene, spec_.camera, r.world(), static_cast<int>(r.index()),
                                 spec_.options.run.seed);
  }

  const GenSpec& spec_;
  engine::render::BatchRenderer renderer_;
  std::vector<const engine::physics::World*> worlds_;
  std::vector<int> variants_;
  std::vector<engine::render::Camera> cameras_;
};
#endif

}  // namespace

GenStats simulate(const GenSpec& spec, std::span<const std::int64_t> todo, const EpisodeSink& sink,
                  const std::atomic<bool>* stop, const GenProgress& progress) {
  GenStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  if (todo.empty()) return stats;
  const bool images = spec.layout.has_images();
  const int n = static_cast<int>(std::min<std::size_t>(spec.options.run.envs, todo.size()));
  std::vector<Slot> slots(static_cast<std::size_t>(n));
  const int threads =
      spec.options.run.threads > 0 ? spec.options.run.threads : tbb::info::default_concurrency();
  tbb::task_arena arena(images ? threads : std::min(threads, n));
  std::atomic<std::size_t> next{0};
  std::vector<std::unique_ptr<io::Episode>> finished(slots.size());

#ifdef SIMLAB_HAS_RENDER
  std::unique_ptr<SlotRenderer> renderer;
  if (images) renderer = std::make_unique<SlotRenderer>(spec, n);
#endif

  // Progress counts env steps against an upper bound (every episode running to its time limit);
  // episodes that end early make an ETA pessimistic, never the rate.
  const std::int64_t limit = spec.config.max_episode_steps;
  const std::int64_t total = limit > 0 ? static_cast<std::int64_t>(todo.size()) * limit
                                       : static_cast<std::int64_t>(todo.size());
  const char* unit = limit > 0 ? "env-steps" : "episodes";

  std::atomic<std::int64_t> steps{0};
  if (!images) {
    // Without images nothing ties the episodes together: each task runs one episode from start to
    // finish, and a thread that the writer (or anything else) preempts delays only its own
    // episode, never a barrier the other threads wait at. Episode k depends on k alone, so the
    // order in which they finish changes nothing but the order the sink sees them in.
    std::mutex out;  // the sink, progress and the stats, one thread at a time
    std::atomic<bool> stopped{false};
    arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, todo.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& range) {
            for (std::size_t k = range.begin(); k != range.end(); ++k) {
              Slot s;
              start(spec, s, todo[k]);
              while (!s.rollout->done()) {
                if (stop && stop->load()) {
                  stopped = true;
                  return;
                }
                step(spec, s);
                steps.fetch_add(1, std::memory_order_relaxed);
              }
              std::lock_guard<std::mutex> lock(out);
              sink(std::move(s.episode));
              ++stats.episodes;
              if (progress) progress(limit > 0 ? steps.load() : stats.episodes, total, unit, false);
            }
          },
          tbb::simple_partitioner());
    });
    stats.interrupted = stopped.load();
  }
  bool any = images;
  while (any) {
    if (stop && stop->load()) {
      stats.interrupted = true;
      break;
    }
#ifdef SIMLAB_HAS_RENDER
    if (renderer) renderer->render(slots);
#endif
    arena.execute([&] {
      tbb::parallel_for(0, n, [&](int i) {
        Slot& s = slots[static_cast<std::size_t>(i)];
        if (s.rollout && s.rollout->done()) {
          finished[static_cast<std::size_t>(i)] = std::move(s.episode);
          s.rollout.reset();
        }
        if (!s.rollout) {
          const std::size_t k = next.fetch_add(1);
          if (k >= todo.size()) return;
          start(spec, s, todo[k]);
          if (images) return;  // its first frame comes with the next render
        }
        if (images && s.frames <= s.rollout->steps()) return;
        step(spec, s);
        steps.fetch_add(1, std::memory_order_relaxed);
      });
    });
    any = false;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (finished[i]) {
        sink(std::move(finished[i]));
        ++stats.episodes;
      }
      any = any || slots[i].rollout != nullptr;
    }
    if (progress) progress(limit > 0 ? steps.load() : stats.episodes, total, unit, false);
  }
  if (progress && !stats.interrupted)
    progress(limit > 0 ? steps.load() : stats.episodes, total, unit, true);
  stats.env_steps = steps.load();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace simlab::app
