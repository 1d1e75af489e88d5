// simlab eval: an exported policy (policy.pt) on a scene: returns with a 95% interval, success,
// safety figures, as JSON (--out) and a markdown table; --sweep plots return against one
// randomized parameter (learners::evaluate_policy).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/core/error.h"
#include "engine/io/event_file.h"
#include "engine/io/video.h"
#include "engine/render/batch_renderer.h"
#include "learners/evaluate.h"
#include "scenes/render_camera.h"
#include "tools/app/learn.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct EvalArgs {
  std::string policy, out, sweep_out, allowed;
  std::string video;  // a folder: episode_NNN.mp4 of the first video_episodes episodes
  int video_episodes = 3;
  learners::EvalOptions options;
};

// Videos of the first episodes: each control step of episode k rendered by the batch renderer
// (the scene's first camera, tracking ones following) into DIR/episode_00k.mp4, at the control
// rate (every n-th step above 50 Hz).
class EpisodeVideos {
 public:
  EpisodeVideos(std::filesystem::path dir, int episodes, std::uint64_t seed)
      : dir_(std::move(dir)),
        seed_(seed),
        writers_(static_cast<std::size_t>(episodes)),
        steps_(static_cast<std::size_t>(episodes), 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec)
      throw Error(SourceLocation{.file = dir_.string(), .field = "--video"},
                  "cannot create the folder: " + ec.message());
  }

  void frame(const scenes::Scene& scene, int episode, int variant,
             const engine::physics::World& world) {
    if (!renderer_) {
      renderer_ = std::make_unique<engine::render::BatchRenderer>(
          scenes::variant_models(scene),
          engine::render::RenderConfig{.width = kWidth, .height = kHeight});
      choice_ = scenes::choose_camera(scene, "");
      stride_ = std::max(1, static_cast<int>(std::ceil(scene.spec.control_hz / 50.0)));
      fps_ = std::max(1, static_cast<int>(std::lround(scene.spec.control_hz / stride_)));
    }
    if (steps_[episode]++ % stride_ != 0) return;
    auto& writer = writers_[episode];
    if (!writer) {
      char name[32];
      std::snprintf(name, sizeof name, "episode_%03d.mp4", episode);
      writer = std::make_unique<engine::io::VideoWriter>(dir_ / name, kWidth, kHeight, fps_);
    }
    const engine::physics::World* worlds[] = {&world};
    const int variants[] = {variant};
    const engine::render::Camera cameras[] = {
        scenes::render_camera(scene, choice_, world, episode, seed_)};
    renderer_->render(worlds, variants, cameras);
    writer->add(renderer_->rgb().data());
  }

  // Closes every file; returns what was written.
  std::string finish() {
    std::string written;
    for (std::size_t k = 0; k < writers_.size(); ++k) {
      if (!writers_[k]) continue;
      writers_[k]->close();
      written += (written.empty() ? "" : ", ") + std::to_string(writers_[k]->frames());
    }
    return written;
  }

 private:
  static constexpr int kWidth = 320, kHeight = 240;
  std::filesystem::path dir_;
  std::uint64_t seed_;
  std::vector<std::unique_ptr<engine::io::VideoWriter>> writers_;
  std::vector<int> steps_;
  std::unique_ptr<engine::render::BatchRenderer> renderer_;
  scenes::CameraChoice choice_;
  int stride_ = 1, fps_ = 25;
};

// The sweep for TensorBoard, in a folder beside its PNG (a run of its own under
// `tensorboard --logdir`): per episode, in order of the parameter, its value and its return (step
// = rank), and the report's table as text. A folder that cannot be written is a warning.
void write_sweep_events(const learners::EvalResult& r, const learners::EvalOptions& o) {
  const auto& sweep = r.json["sweep"];
  std::string stem = o.sweep;
  for (auto& c : stem)
    if (c == ':' || c == '/') c = '_';
  const auto dir = o.sweep_png.parent_path() / ("sweep_" + stem);
  try {
    engine::io::EventWriter events(dir);
    const auto& x = sweep["values"];
    const auto& y = sweep["returns"];
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
      events.scalars(static_cast<std::int64_t>(i),
                     {{"sweep/" + o.sweep + "/value", x[i].get<double>()},
                      {"sweep/" + o.sweep + "/return", y[i].get<double>()}});
    events.text("sweep/" + o.sweep + "/report", r.markdown);
    events.flush();
    std::printf("wrote %s (TensorBoard: tensorboard --logdir %s)\n", events.path().c_str(),
                dir.parent_path().empty() ? "." : dir.parent_path().c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "simlab eval: warning: no TensorBoard events for the sweep: %s\n",
                 e.what());
  }
}

void run_eval(EvalArgs& a) {
  auto& o = a.options;
  if (!a.allowed.empty()) {
    o.allowed_contacts.clear();
    for (std::size_t start = 0; start <= a.allowed.size();) {
      const auto comma = a.allowed.find(',', start);
      const auto end = comma == std::string::npos ? a.allowed.size() : comma;
      if (end > start) o.allowed_contacts.push_back(a.allowed.substr(start, end - start));
      start = end + 1;
    }
  }
  if (!o.sweep.empty()) {
    std::string stem = o.sweep;
    for (auto& c : stem)
      if (c == ':' || c == '/') c = '_';
    o.sweep_png = !a.sweep_out.empty() ? std::filesystem::path(a.sweep_out)
                  : !a.out.empty()
                      ? std::filesystem::path(a.out).parent_path() / ("sweep_" + stem + ".png")
                      : std::filesystem::path("sweep_" + stem + ".png");
  }
  std::unique_ptr<EpisodeVideos> videos;
  if (!a.video.empty()) {
    if (a.video_episodes < 1)
      throw Error(SourceLocation{.field = "--video-episodes"}, "must be >= 1");
    if (!engine::io::video_available())
      throw Error(SourceLocation{.field = "--video"},
                  "this simlab was built without FFmpeg's libraries (libavcodec-dev, "
                  "libavformat-dev, libswscale-dev): run tools/install-deps.sh and rebuild");
    videos = std::make_unique<EpisodeVideos>(a.video, a.video_episodes, o.seed);
    o.frame_episodes = a.video_episodes;
    o.on_frame = [&videos](const scenes::Scene& scene, int episode, int variant,
                           const engine::physics::World& world) {
      videos->frame(scene, episode, variant, world);
    };
  }
  auto policy = learners::load_exported_policy(a.policy);
  const auto r = app::evaluate(policy, o);
  if (videos)
    std::printf("wrote %s/episode_NNN.mp4 for the first %d episodes (frames: %s)\n",
                a.video.c_str(), std::min(a.video_episodes, o.episodes), videos->finish().c_str());
  std::printf("%s\n", r.markdown.c_str());
  if (!a.out.empty()) {
    std::ofstream out(a.out);
    out << r.json.dump(2) << "\n";
    if (!out) throw Error(SourceLocation{.field = "--out"}, "cannot write " + a.out);
    std::printf("wrote %s\n", a.out.c_str());
  }
  if (r.json.contains("sweep")) {
    std::printf("wrote %s (return against %s)\n", o.sweep_png.string().c_str(), o.sweep.c_str());
    write_sweep_events(r, o);
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate an exported policy (policy.pt from `simlab export`) on a scene: mean return with\n"
      "a 95% interval, success rate, and safety figures (joint limits, actuator saturation,\n"
      "unwanted contacts, action jerk).");
  cmd->add_option("--policy", a->policy,
                  "policy.pt written by simlab export (its "
                  "policy_card.json beside it)")
      ->required();
  cmd->add_option("--scene", a->options.scene, "Built-in scene or spec file (default: the card's)");
  add_randomization_option(*cmd, a->options.randomization,
                           "train (the scene's ranges), heldout (its wider held-out ranges, values "
                           "training never saw), none (no parameter randomization or pushes)");
  cmd->add_option("--episodes", a->options.episodes, "Episodes")->capture_default_str();
  cmd->add_option("--seed", a->options.seed, "Seed of the episodes")->capture_default_str();
  add_backend_option(*cmd, a->options.backend);
  cmd->add_option("--out", a->out, "Write the results as JSON");
  cmd->add_option("--sweep", a->options.sweep,
                  "Plot return against a randomized parameter: PARAM or PARAM:ELEMENT, e.g. "
                  "body_mass:pole");
  cmd->add_option("--sweep-out", a->sweep_out,
                  "The sweep's PNG (default: sweep_PARAM.png beside --out)");
  cmd->add_option("--video", a->video,
                  "A folder for MP4s of the first episodes (episode_000.mp4, ...: the scene's\n"
                  "first camera, 320x240, at the control rate)");
  cmd->add_option("--video-episodes", a->video_episodes, "How many episodes --video records")
      ->capture_default_str();
  cmd->add_option("--allowed-contacts", a->allowed,
                  "Comma-separated words: bodies whose names contain one may touch things "
                  "(default: foot,feet,toe,shin,hand,finger,grip,wheel,tip)");
  cmd->footer(
      "Examples:\n  simlab eval --policy policies/cartpole/policy.pt --scene cartpole-balance "
      "--episodes 20 --out eval.json\n"
      "  simlab eval --policy policies/cartpole/policy.pt --randomization none --episodes 20\n"
      "  simlab eval --policy policies/cartpole/policy.pt --episodes 50 --sweep body_mass:pole");
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace simlab::tools
