// simlab render: every env of a scene through the batch renderer, written as PNGs (colour, depth,
// segmentation per env, and a contact sheet of many envs in one image); simlab bench render:
// frames/s of the batch renderer at a resolution and env count.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/io/image.h"
#include "engine/io/video.h"
#include "engine/render/batch_renderer.h"
#ifdef SIMLAB_HAS_PHYSICS_MJR
#include "engine/physics/mujoco/mjr_render.h"
#endif
#include "scenes/render_camera.h"
#include "scenes/scene.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/progress.h"

namespace simlab::tools {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::string scene = "push";
  int envs = 16;
  std::string res = "128x128";
  std::string out = "render";
  int steps = 25;  // random-action steps before the picture, so scenes are mid-motion
  std::uint64_t seed = 0;
  int threads = 0;
  int repeats = 5;
  bool json = false;
  std::string camera;  // a scene camera by name; "": the scene's first, else a framing camera
  std::string video;   // render only: an MP4 of the envs instead of PNGs
  double seconds = 4;  // of video
  int fps = 25;
  // render only: bench render times MuJoCo's own renderer
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
};

std::pair<int, int> parse_res(const std::string& res) {
  int w = 0, h = 0;
  char x = 0;
  if (std::sscanf(res.c_str(), "%d%c%d", &w, &x, &h) != 3 || x != 'x' || w < 1 || h < 1)
    throw Error(SourceLocation{.field = "--res"},
                "expected WIDTHxHEIGHT, e.g. 64x64; got '" + res + "'");
  return {w, h};
}

// A scene's envs after `steps` random steps, with one renderer for all its variants.
struct Staged {
  scenes::Scene scene;
  std::unique_ptr<engine::VectorEnv> env;
  std::vector<const engine::physics::World*> worlds;
  std::vector<int> variants;
  std::vector<engine::render::Camera> cameras;
  scenes::CameraChoice camera;  // which camera `cameras` are from
};

Staged stage(const Options& o) {
  if (o.steps < 0) throw Error(SourceLocation{.field = "--steps"}, "must be >= 0");
  const app::RunSpec run{.scene = o.scene,
                         .backend = o.backend,
                         .seed = o.seed,
                         .envs = o.envs,
                         .threads = o.threads,
                         .max_variants = o.envs};
  Staged s{.scene = app::build_scene(run)};
  s.env = app::make_envs(run, s.scene);
  const int act = s.env->action_space().dim();
  std::vector<float> actions(static_cast<std::size_t>(o.envs) * act);
  engine::Rng rng(o.seed, 0, 0, 9);
  for (int t = 0; t < o.steps; ++t) {
    for (auto& a : actions)
      a = static_cast<float>(rng.uniform(-1.0, 1.0));
    s.env->step(actions);
  }
  // A camera by name: the scene's [[camera]] entries first, then the model's own <camera>s.
  // Without a name: the scene's first camera, else one that frames the model.
  s.camera = scenes::choose_camera(s.scene, o.camera);
  for (int i = 0; i < o.envs; ++i) {
    s.worlds.push_back(&s.env->world(i));
    s.variants.push_back(s.env->variant_of(i));
    s.cameras.push_back(scenes::render_camera(s.scene, s.camera, *s.worlds.back(), i, o.seed));
  }
  return s;
}

void run_render(const Options& o) {
  const auto [w, h] = parse_res(o.res);
  auto s = stage(o);
  engine::render::BatchRenderer renderer(scenes::variant_models(s.scene),
                                         {.width = w, .height = h});
  const auto start = std::chrono::steady_clock::now();
  renderer.render(s.worlds, s.variants, s.cameras);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec)
    throw Error(SourceLocation{.file = o.out, .field = "--out"},
                "cannot create the folder: " + ec.message());
  const std::size_t px = static_cast<std::size_t>(w) * h;
  const int written = std::min(o.envs, 64);  // per-env files for the first 64; the sheet shows them
  for (int i = 0; i < written; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%04d", i);
    const auto base = fs::path(o.out);
    engine::io::write_png((base / ("rgb_" + std::string(name) + ".png")).string(), w, h,
                          renderer.rgb().data() + i * px * 3);
    const auto depth =
        engine::io::depth_to_rgb(std::span(renderer.depth().data() + i * px, px),
                                 4.0f * s.scene.variants[s.variants[i]].model->visual().extent);
    engine::io::write_png((base / ("depth_" + std::string(name) + ".png")).string(), w, h,
                          depth.data());
    const auto seg =
        engine::io::segmentation_to_rgb(std::span(renderer.segmentation().data() + i * px, px));
    engine::io::write_png((base / ("seg_" + std::string(name) + ".png")).string(), w, h,
                          seg.data());
  }
  // Contact sheet: the same envs in a grid with 2-pixel gaps.
  engine::io::ImageGrid sheet(written, w, h, 2);
  sheet.fill(renderer.rgb().data());
  const auto sheet_file = (fs::path(o.out) / "contact_sheet.png").string();
  engine::io::write_png(sheet_file, sheet.width, sheet.height, sheet.rgb.data());
  std::printf("rendered %d envs of %s (%zu variants) at %dx%d on %s in %.3f s\n", o.envs,
              s.scene.spec.name.c_str(), s.scene.variants.size(), w, h,
              renderer.device_name().c_str(), seconds);
  std::printf("wrote %s/{rgb,depth,seg}_NNNN.png for %d envs and %s\n", o.out.c_str(), written,
              sheet_file.c_str());
}

// An MP4 of the envs (a grid of up to 16) under random actions: each frame is the next control
// steps of simulated time (control rate / fps of them), rendered by the batch renderer.
void run_render_video(const Options& o) {
  const auto [w, h] = parse_res(o.res);
  if (!(o.seconds > 0)) throw Error(SourceLocation{.field = "--seconds"}, "must be > 0");
  if (o.fps < 1 || o.fps > 240)
    throw Error(SourceLocation{.field = "--fps"}, "must be in [1, 240]");
  auto s = stage(o);
  engine::render::BatchRenderer renderer(scenes::variant_models(s.scene),
                                         {.width = w, .height = h});
  const int shown = std::min(o.envs, 16);
  engine::io::ImageGrid grid(shown, w, h, 2);
  const int vw = engine::io::even(grid.width), vh = engine::io::even(grid.height);
  engine::io::VideoWriter video(o.video, vw, vh, o.fps);
  const double control_hz = s.scene.spec.control_hz;
  const int steps_per_frame = std::max(1, static_cast<int>(std::lround(control_hz / o.fps)));
  const int frames = std::max(1, static_cast<int>(std::lround(o.seconds * o.fps)));
  const int act = s.env->action_space().dim();
  std::vector<float> actions(static_cast<std::size_t>(o.envs) * act);
  engine::Rng rng(o.seed, 0, 0, 10);
  // Only the envs the grid shows are rendered.
  const auto worlds = std::span(s.worlds).first(static_cast<std::size_t>(shown));
  const auto variants = std::span(s.variants).first(static_cast<std::size_t>(shown));
  const auto cameras = std::span(s.cameras).first(static_cast<std::size_t>(shown));
  Progress progress("rendering video", frames, "frames");
  for (int f = 0; f < frames; ++f) {
    for (int k = 0; k < steps_per_frame; ++k) {
      for (auto& a : actions)
        a = static_cast<float>(rng.uniform(-1.0, 1.0));
      s.env->step(actions);
    }
    for (int i = 0; i < shown; ++i)  // tracking cameras follow their body
      cameras[i] = scenes::render_camera(s.scene, s.camera, *worlds[i], i, o.seed);
    renderer.render(worlds, variants, cameras);
    grid.fill(renderer.rgb().data());
    video.add(grid.rgb.data(), grid.width, grid.height);
    progress.update(f + 1);
  }
  video.close();
  progress.finish();
  std::printf(
      "wrote %s: %d frames at %d fps (%.1f s; %d control steps per frame), %dx%d, %d of "
      "%d envs of %s, %s\n",
      o.video.c_str(), video.frames(), o.fps, static_cast<double>(frames) / o.fps, steps_per_frame,
      vw, vh, shown, o.envs, s.scene.spec.name.c_str(), video.codec().c_str());
}

void run_bench_render(const Options& o) {
  const auto [w, h] = parse_res(o.res);
  if (o.repeats < 1) throw Error(SourceLocation{.field = "--repeats"}, "must be >= 1");
  auto s = stage(o);
  engine::render::BatchRenderer renderer(scenes::variant_models(s.scene),
                                         {.width = w, .height = h});
  renderer.render(s.worlds, s.variants, s.cameras);  // warm-up: targets, pipelines
  double best = 1e300;
  for (int r = 0; r < o.repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    renderer.render(s.worlds, s.variants, s.cameras);
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double fps = o.envs / best;
  // The same worlds through MuJoCo's own renderer, one after another, same run and resolution.
  // Twice: with MuJoCo's defaults (shadows, reflections, skybox), and plain like ours.
  double mjr_fps = 0, mjr_plain_fps = 0;
  std::string mjr_device = "not built";
#ifdef SIMLAB_HAS_PHYSICS_MJR
  const auto mjr = engine::physics::mujoco::time_mjr_render(s.worlds, w, h, o.repeats);
  const auto plain = engine::physics::mujoco::time_mjr_render(s.worlds, w, h, o.repeats, true);
  mjr_fps = o.envs / mjr.seconds;
  mjr_plain_fps = o.envs / plain.seconds;
  mjr_device = mjr.renderer;
#endif
  const double ratio = mjr_fps > 0 ? fps / mjr_fps : 0;
  const double ratio_plain = mjr_plain_fps > 0 ? fps / mjr_plain_fps : 0;
  nlohmann::json j = {{"scene", s.scene.spec.name},
                      {"envs", o.envs},
                      {"width", w},
                      {"height", h},
                      {"device", renderer.device_name()},
                      {"cpu_device", renderer.on_cpu()},
                      {"seconds_per_batch", best},
                      {"frames_per_s", fps},
                      {"bytes_device", renderer.device_bytes()},
                      {"bytes_output_per_frame", static_cast<std::size_t>(w) * h * (3 + 4 + 4)},
                      {"mjr_frames_per_s", mjr_fps},
                      {"mjr_device", mjr_device},
                      {"ratio_vs_mjr", ratio},
                      {"mjr_plain_frames_per_s", mjr_plain_fps},
                      {"ratio_vs_mjr_plain", ratio_plain},
                      {"target_ratio", 2.0}};
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf(
      "simlab bench render: %s, %d envs at %dx%d on %s, best of %d\n"
      "  %.4f s per batch = %.0f frames/s (rgb + depth + segmentation, read back to host)\n"
      "  MuJoCo mjr_render, one env at a time (rgb + depth) on %s:\n"
      "    defaults (shadows, reflections, skybox) %8.0f frames/s: ratio %.2f (target >= 2)\n"
      "    plain, as simlab draws                  %8.0f frames/s: ratio %.2f (target >= 2)\n"
      "  device memory %.1f MB; %zu B of output per frame\n",
      s.scene.spec.name.c_str(), o.envs, w, h, renderer.device_name().c_str(), o.repeats, best, fps,
      mjr_device.c_str(), mjr_fps, ratio, mjr_plain_fps, ratio_plain, renderer.device_bytes() / 1e6,
      static_cast<std::size_t>(w) * h * 11);
}

void add_common(CLI::App* cmd, Options& o) {
  cmd->add_option("--scene", o.scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option("--envs", o.envs, "Number of envs")->capture_default_str();
  cmd->add_option("--res", o.res, "Resolution WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--steps", o.steps, "Random-action steps before rendering")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the scene, randomization and actions")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "Simulation threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--camera", o.camera,
                  "A camera by name: the scene's [[camera]] entries, then the model's <camera>s\n"
                  "(default: the scene's first, else a camera that frames the model)");
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "render",
      "Render every env of a scene with the Vulkan batch renderer (headless; lavapipe on CPU or\n"
      "a GPU) and write PNGs: colour, depth and segmentation per env, and a contact sheet.");
  add_common(cmd, *o);
  add_backend_option(*cmd, o->backend);
  cmd->add_option("--out", o->out, "Output folder")->capture_default_str();
  cmd->add_option("--video", o->video,
                  "Write an MP4 instead (H.264): the envs in a grid (up to 16) under random\n"
                  "actions, e.g. --video push.mp4 --envs 9 --seconds 4");
  cmd->add_option("--seconds", o->seconds, "Video length (simulated and played seconds)")
      ->capture_default_str();
  cmd->add_option("--fps", o->fps, "Video frames per second")->capture_default_str();
  cmd->callback([o] { o->video.empty() ? run_render(*o) : run_render_video(*o); });
}

void add_bench_render_command(CLI::App& bench) {
  auto o = std::make_shared<Options>();
  o->envs = 256;
  o->res = "64x64";
  auto* cmd = bench.add_subcommand(
      "render", "Frames/s of the Vulkan batch renderer (colour, depth, segmentation, read back)");
  add_common(cmd, *o);
  cmd->add_option("--repeats", o->repeats, "Repeats; the fastest is kept")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the results as JSON");
  cmd->callback([o] { run_bench_render(*o); });
}

}  // namespace simlab::tools
