// simlab view: a desktop window showing a grid of envs as they run, with a panel on the selected
// env.
//
//   VectorEnv.step (the policy's actions) -> BatchRenderer (headless, every env in one pass) ->
//   the grid composed on the host, the selected env framed -> ViewerWindow: swapchain image + Dear
//   ImGui panel (the env's variant, randomized parameters, reward terms, a live reward plot)
//
// The scene's first camera by default (--camera NAME: another scene or model camera; free: the
// orbit camera). Controls: c toggles the free orbit camera, f makes it follow each env's robot,
// space pauses, n steps once while paused, r resets every env, v shows the next page of
// structural variants, click selects an env, left-drag orbits, right-drag pans, the wheel zooms,
// Esc quits. --frames N --screenshot FILE write the window after N frames and quit (scripted
// captures, e.g. under xvfb-run); --record FILE writes every frame shown to an MP4.
#include <GLFW/glfw3.h>
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <imgui.h>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/io/image.h"
#include "engine/io/video.h"
#include "engine/render/batch_renderer.h"
#include "scenes/render_camera.h"
#include "scenes/scene.h"
#include "scenes/terms.h"
#include "tools/app/policy.h"
#include "tools/app/run.h"
#include "tools/simlab/commands.h"
#include "tools/simlab/view_window.h"

namespace simlab::tools {
namespace {

constexpr int kPanelWidth = 380;
constexpr int kMinHeight = 600;
constexpr std::size_t kPlotSteps = 300;

struct Options {
  std::string scene = "cartpole-balance";
  int envs = 16;
  std::string res = "160x120";  // per env
  std::uint64_t seed = 0;
  std::string policy = "random";
  int select = 0;
  int first_variant = 0;
  int frames = 0;  // 0: until the window closes
  std::string screenshot;
  std::string record;  // an MP4 of the window, one frame per frame shown
  engine::physics::BackendKind backend = engine::physics::BackendKind::kMuJoCo;
  std::string camera;  // a scene or model camera; "": the scene's first; "free": the orbit camera
};

// Orbit camera shared by every env, around each env's own model centre, or (follow) around the
// env's first body, so that robots that move stay in view.
struct Orbit {
  float azimuth = -55, elevation = 25, distance_scale = 1.6f;
  float pan[3] = {0, 0, 0};
  engine::render::Camera camera(const engine::physics::VisualModel& v,
                                const engine::physics::World* follow) const {
    const float d = distance_scale * std::max(v.extent, 0.1f);
    const float a = azimuth * 3.14159265f / 180, e = elevation * 3.14159265f / 180;
    float centre[3] = {v.center[0], v.center[1], v.center[2]};
    if (follow) {
      double root[3] = {0, 0, 0};
      follow->read(engine::physics::Quantity::kBodyPos, 1, root);
      for (int k = 0; k < 3; ++k)
        centre[k] = static_cast<float>(root[k]);
    }
    const float target[3] = {centre[0] + pan[0], centre[1] + pan[1], centre[2] + pan[2]};
    const float eye[3] = {target[0] + d * std::cos(e) * std::cos(a),
                          target[1] + d * std::cos(e) * std::sin(a), target[2] + d * std::sin(e)};
    return engine::render::look_at(eye, target, 45);
  }
};

// Every env's actions from the policy source, each env with its previous action (the policy's
// safe action again where an episode just started). The action space is copied: the envs (and
// their spaces) are remade when the variants page on.
class EnvPolicy {
 public:
  EnvPolicy(app::PolicySource source, const engine::Space& observation, const engine::Space& action,
            std::uint64_t seed)
      : source_(std::move(source)), action_(action), rng_(seed, 0, 0, 12) {
    source_.bind(observation, action);
  }

  // `obs` is every env's current observation; `fresh` marks envs whose episode just started.
  void act(std::span<const float> obs, const std::vector<bool>& fresh,
           std::vector<float>& actions) {
    const auto& safe = source_.safe_action();
    prev_.resize(actions.size());
    for (std::size_t e = 0; e < fresh.size(); ++e)
      if (fresh[e]) std::copy(safe.begin(), safe.end(), prev_.begin() + e * safe.size());
    source_.act(obs, prev_, actions, rng_, action_);
    prev_ = actions;
  }

 private:
  app::PolicySource source_;
  engine::Space action_;
  engine::Rng rng_;
  std::vector<float> prev_;
};

// The envs on screen: the scene's variants from `first` on (env i runs variant (first + i) % V).
struct Shown {
  int first = 0;
  std::unique_ptr<engine::VectorEnv> env;
  std::vector<const engine::physics::World*> worlds;
  std::vector<int> variants;  // into the scene's variants (and the renderer's models)

  Shown(const scenes::Scene& scene, int first_variant, int envs, std::uint64_t seed)
      : first(first_variant) {
    auto rotated = scene.variants;
    std::rotate(rotated.begin(), rotated.begin() + first, rotated.end());
    auto config = scene.config;
    config.num_envs = envs;
    config.num_threads = 0;
    config.seed = seed;
    env = std::make_unique<engine::VectorEnv>(std::move(rotated), std::move(config));
    env->reset();
    for (int i = 0; i < envs; ++i) {
      worlds.push_back(&env->world(i));
      variants.push_back((first + env->variant_of(i)) % static_cast<int>(scene.variants.size()));
    }
  }
};

// What the panel shows about the selected env, followed step by step.
struct Selected {
  int env = 0;
  std::deque<float> rewards;  // the last kPlotSteps rewards
  double episode_return = 0, last_return = 0;
  int episodes = 0;
  std::vector<float> terms;
  std::vector<scenes::ParamChange> changes;  // randomized parameters, refreshed after each step
  bool stale = true;
  void clear() { rewards.clear(), episode_return = last_return = 0, episodes = 0, stale = true; }
};

void frame_tile(engine::io::ImageGrid& grid, int tile) {
  const int x0 = grid.gap + (tile % grid.columns) * (grid.tile_width + grid.gap);
  const int y0 = grid.gap + (tile / grid.columns) * (grid.tile_height + grid.gap);
  for (int y = y0; y < y0 + grid.tile_height; ++y)
    for (int x = x0; x < x0 + grid.tile_width; ++x) {
      const int edge =
          std::min({x - x0, y - y0, x0 + grid.tile_width - 1 - x, y0 + grid.tile_height - 1 - y});
      if (edge > 2) continue;
      std::uint8_t* p = grid.rgb.data() + (static_cast<std::size_t>(y) * grid.width + x) * 3;
      p[0] = 255, p[1] = 200, p[2] = 0;
    }
}

// The viewer's buttons and keys, read by the frame loop.
struct Controls {
  bool paused = false, step_once = false, reset = false, next_variants = false;
  bool free = false;    // the orbit camera instead of the chosen one (c)
  bool follow = false;  // the orbit camera follows each env's first body (f)
};

// Mouse drags outside the panel: left orbits, right pans.
void drag(GLFWwindow* window, Orbit& orbit, double& last_x, double& last_y) {
  double mx, my;
  glfwGetCursorPos(window, &mx, &my);
  const double dx = mx - last_x, dy = my - last_y;
  last_x = mx, last_y = my;
  if (!ImGui::GetIO().WantCaptureMouse) {
    if (glfwGetMouseButton(window, GLFW_MOUSE_BUTTON_LEFT) == GLFW_PRESS) {
      orbit.azimuth -= static_cast<float>(dx) * 0.4f;
      orbit.elevation = std::clamp(orbit.elevation + static_cast<float>(dy) * 0.3f, -89.0f, 89.0f);
    }
    if (glfwGetMouseButton(window, GLFW_MOUSE_BUTTON_RIGHT) == GLFW_PRESS) {
      orbit.pan[0] -= static_cast<float>(dx) * 0.005f;
      orbit.pan[2] += static_cast<float>(dy) * 0.005f;
    }
  }
}

// One step of every env with the policy's actions; the selected env's reward, return and terms.
void step_envs(engine::VectorEnv& env, EnvPolicy& policy, std::vector<float>& actions,
               std::vector<bool>& fresh, Selected& sel, const scenes::RewardBreakdown& breakdown) {
  const auto& now = env.batch();
  policy.act(std::span<const float>(now.obs.data(), now.obs.size()), fresh, actions);
  const auto& batch = env.step(actions);
  for (int e = 0; e < env.num_envs(); ++e)
    fresh[e] = batch.terminated(e, 0) || batch.truncated(e, 0);
  const float r = batch.reward(sel.env, 0);
  sel.rewards.push_back(r);
  if (sel.rewards.size() > kPlotSteps) sel.rewards.pop_front();
  sel.episode_return += r;
  if (batch.terminated(sel.env, 0) || batch.truncated(sel.env, 0))
    sel.last_return = sel.episode_return, sel.episode_return = 0, ++sel.episodes;
  sel.stale = true;  // a reset inside the step may have drawn new parameters
  // The terms of the step just taken (after an auto-reset they describe the new episode).
  sel.terms.resize(breakdown.labels.size());
  breakdown.evaluate(env.world(sel.env), batch.action.row(sel.env), sel.terms);
}

// The panel on the selected env: controls, its variant, randomized parameters, reward terms and
// the reward plot, right of the grid.
void draw_panel(const Options& o, const scenes::Scene& scene, const engine::VectorEnv& env,
                int variant, const scenes::RewardBreakdown& breakdown, Selected& sel, Controls& c,
                float left, float height) {
  const int num_variants = static_cast<int>(scene.variants.size());
  const engine::physics::World& world = env.world(sel.env);
  ImGui::SetNextWindowPos(ImVec2(left, 0));
  ImGui::SetNextWindowSize(ImVec2(static_cast<float>(kPanelWidth), height));
  ImGui::Begin("simlab", nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
  ImGui::Text("%s: %d envs, %d variants, %s", scene.spec.name.c_str(), o.envs, num_variants,
              engine::physics::backend_name(scene.backend));
  ImGui::Text("seed %llu, policy %s, %.0f frames/s", static_cast<unsigned long long>(o.seed),
              o.policy.c_str(), ImGui::GetIO().Framerate);
  if (ImGui::Button(c.paused ? "Run (space)" : "Pause (space)")) c.paused = !c.paused;
  ImGui::SameLine();
  if (ImGui::Button("Step (n)")) c.step_once = true;
  ImGui::SameLine();
  if (ImGui::Button("Reset (r)")) c.reset = true;
  ImGui::SameLine();
  ImGui::BeginDisabled(num_variants <= o.envs);
  if (ImGui::Button("Next variants (v)")) c.next_variants = true;
  ImGui::EndDisabled();
  ImGui::Checkbox("free camera (c)", &c.free);
  ImGui::SameLine();
  ImGui::Checkbox("follow (f)", &c.follow);
  int selected = sel.env;
  if (ImGui::SliderInt("env", &selected, 0, o.envs - 1) && selected != sel.env)
    sel.env = selected, sel.clear();
  ImGui::Separator();
  ImGui::Text("env %d: variant %d, step %d", sel.env, variant,
              env.batch().episode_step(sel.env, 0));
  if (!scene.spec.procedural.empty())
    ImGui::TextWrapped("%s", scene.variant_summary[variant].c_str());
  ImGui::Text("return %.2f (last episode %.2f, %d done)", sel.episode_return, sel.last_return,
              sel.episodes);

  if (sel.stale)
    sel.changes = scenes::randomized_params(*scene.variants[variant].model, world),
    sel.stale = false;
  const auto& changes = sel.changes;
  if (ImGui::CollapsingHeader("Randomized parameters", ImGuiTreeNodeFlags_DefaultOpen)) {
    if (changes.empty()) ImGui::TextDisabled("none: this env runs the compiled model");
    if (!changes.empty() && ImGui::BeginTable("params", 3,
                                              ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg |
                                                  ImGuiTableFlags_SizingStretchProp,
                                              ImVec2(0, 180))) {
      ImGui::TableSetupScrollFreeze(0, 1);
      ImGui::TableSetupColumn("parameter");
      ImGui::TableSetupColumn("element");
      ImGui::TableSetupColumn("value (model)");
      ImGui::TableHeadersRow();
      for (const auto& c : changes) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(scenes::param_label(c.param).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(c.element.c_str());
        ImGui::TableNextColumn();
        ImGui::Text("%.4g (%.4g)", c.value, c.model_value);
      }
      ImGui::EndTable();
    }
  }
  if (ImGui::CollapsingHeader("Reward terms", ImGuiTreeNodeFlags_DefaultOpen)) {
    for (std::size_t i = 0; i < breakdown.labels.size() && i < sel.terms.size(); ++i)
      ImGui::Text("%+9.4f  %s", sel.terms[i], breakdown.labels[i].c_str());
    if (breakdown.labels.empty()) ImGui::TextDisabled("the scene declares no reward terms");
  }
  if (ImGui::CollapsingHeader("Reward", ImGuiTreeNodeFlags_DefaultOpen)) {
    std::vector<float> plot(sel.rewards.begin(), sel.rewards.end());
    ImGui::PlotLines("##reward", plot.data(), static_cast<int>(plot.size()), 0,
                     "reward per step (last 300)", FLT_MAX, FLT_MAX,
                     ImVec2(kPanelWidth - 20.0f, 120));
  }
  ImGui::TextDisabled("click: select; drag: orbit/pan; wheel: zoom; Esc: quit");
  ImGui::End();
}

void run_view(const Options& o) {
  int w = 0, h = 0;
  char x = 0;
  if (std::sscanf(o.res.c_str(), "%d%c%d", &w, &x, &h) != 3 || x != 'x' || w < 16 || h < 16)
    throw Error(SourceLocation{.field = "--res"}, "expected WIDTHxHEIGHT per env, e.g. 160x120");
  if (o.envs < 1 || o.envs > 64) throw Error(SourceLocation{.field = "--envs"}, "must be 1 to 64");
  if (o.select < 0 || o.select >= o.envs)
    throw Error(SourceLocation{.field = "--select"}, "env " + std::to_string(o.select) +
                                                         " is not on screen (0 to " +
                                                         std::to_string(o.envs - 1) + ")");
  auto source = app::PolicySource::parse(o.policy);  // a bad --policy fails before any window
  const auto scene =
      app::build_scene(app::RunSpec{.scene = o.scene, .backend = o.backend, .seed = o.seed});
  if (source.exported()) scenes::require_actions(scene, "policy");
  // The scene's first camera unless told otherwise; "free" (or a scene without cameras): orbit.
  const auto choice =
      o.camera == "free" ? scenes::CameraChoice{} : scenes::choose_camera(scene, o.camera);
  const int num_variants = static_cast<int>(scene.variants.size());
  engine::render::BatchRenderer renderer(scenes::variant_models(scene), {.width = w, .height = h});
  if (o.first_variant < 0 || o.first_variant >= num_variants)
    throw Error(SourceLocation{.field = "--first-variant"},
                scene.spec.name + " has variants 0 to " + std::to_string(num_variants - 1));
  auto shown = std::make_unique<Shown>(scene, o.first_variant, o.envs, o.seed);
  EnvPolicy policy(std::move(source), shown->env->observation_space(), shown->env->action_space(),
                   o.seed);
  // Each variant's reward terms, compiled when an env of it is first selected.
  std::vector<std::optional<scenes::RewardBreakdown>> breakdowns(scene.variants.size());

  engine::io::ImageGrid grid(o.envs, w, h, 0);
  Orbit orbit;
  Controls c;
  c.free = !choice.chosen();
  Selected sel{.env = o.select};
  double press_x = -1, press_y = -1;
  ViewerWindow::Handlers handlers;
  handlers.key = [&](int key) {
    if (key == GLFW_KEY_SPACE) c.paused = !c.paused;
    if (key == GLFW_KEY_N) c.step_once = true;
    if (key == GLFW_KEY_R) c.reset = true;
    if (key == GLFW_KEY_V) c.next_variants = true;
    if (key == GLFW_KEY_C) c.free = !c.free;
    if (key == GLFW_KEY_F) c.follow = !c.follow;
  };
  handlers.scroll = [&](double dy) {
    orbit.distance_scale =
        std::clamp(orbit.distance_scale * std::pow(0.9f, static_cast<float>(dy)), 0.2f, 10.0f);
  };
  handlers.button = [&](int button, bool pressed, double mx, double my) {
    if (button != GLFW_MOUSE_BUTTON_LEFT) return;
    if (pressed) {
      press_x = mx, press_y = my;
      return;
    }
    // A click (not a drag) on a tile selects its env.
    if (std::abs(mx - press_x) + std::abs(my - press_y) > 4) return;
    const int col = static_cast<int>(mx) / grid.tile_width;
    const int row = static_cast<int>(my) / grid.tile_height;
    const int tile = row * grid.columns + col;
    if (col < grid.columns && tile < o.envs && tile != sel.env) sel.env = tile, sel.clear();
  };
  const int window_w = grid.width + kPanelWidth, window_h = std::max(grid.height, kMinHeight);
  // Opened before the window, so that a path that cannot be written fails at once. A frame is
  // one control step: played at the control rate (capped at 120 fps), the video runs in
  // simulated time.
  std::unique_ptr<engine::io::VideoWriter> video;
  const int video_fps = std::clamp(static_cast<int>(std::lround(scene.spec.control_hz)), 1, 120);
  if (!o.record.empty())
    video = std::make_unique<engine::io::VideoWriter>(o.record, engine::io::even(window_w),
                                                      engine::io::even(window_h), video_fps);
  ViewerWindow window(window_w, window_h, "simlab view: " + scene.spec.name, std::move(handlers));

  const int act = shown->env->action_space().dim();
  std::vector<float> actions(static_cast<std::size_t>(o.envs) * act);
  std::vector<bool> fresh(static_cast<std::size_t>(o.envs), true);  // episodes just started
  std::vector<engine::render::Camera> cameras(static_cast<std::size_t>(o.envs));
  std::vector<std::uint8_t> capture;
  double last_x = 0, last_y = 0;
  for (int frame = 0; !glfwWindowShouldClose(window.glfw()); ++frame) {
    glfwPollEvents();
    window.begin_ui();
    drag(window.glfw(), orbit, last_x, last_y);
    if (glfwGetKey(window.glfw(), GLFW_KEY_ESCAPE) == GLFW_PRESS)
      glfwSetWindowShouldClose(window.glfw(), GLFW_TRUE);

    if (c.next_variants) {
      c.next_variants = false;
      shown = std::make_unique<Shown>(
          scene, (shown->first + std::min(o.envs, num_variants)) % num_variants, o.envs, o.seed);
      sel.clear();
      fresh.assign(fresh.size(), true);
    }
    if (c.reset)
      shown->env->reset(), sel.clear(), fresh.assign(fresh.size(), true), c.reset = false;
    auto& env = *shown->env;
    const int variant = shown->variants[sel.env];
    auto& breakdown = breakdowns[variant];
    if (!breakdown)
      breakdown = scenes::compile_reward_breakdown(scene.spec, *scene.variants[variant].model);
    if (!c.paused || c.step_once) {
      step_envs(env, policy, actions, fresh, sel, *breakdown);
      c.step_once = false;
    }
    draw_panel(o, scene, env, variant, *breakdown, sel, c, static_cast<float>(grid.width),
               static_cast<float>(window.height()));
    for (int i = 0; i < o.envs; ++i)
      cameras[i] =
          c.free || !choice.chosen()
              ? orbit.camera(scene.variants[shown->variants[i]].model->visual(),
                             c.follow ? shown->worlds[i] : nullptr)
              : scenes::render_camera(scene, choice, *shown->worlds[i], shown->first + i, o.seed);
    renderer.render(shown->worlds, shown->variants, cameras);
    grid.fill(renderer.rgb().data());
    frame_tile(grid, sel.env);
    const bool last = o.frames > 0 && frame + 1 >= o.frames;
    const bool want = video || (last && !o.screenshot.empty());
    window.present(grid.rgb.data(), grid.width, grid.height, want ? &capture : nullptr);
    if (video) video->add(capture.data(), window.width(), window.height());
    if (last) {
      if (!o.screenshot.empty()) {
        engine::io::write_png(o.screenshot, window.width(), window.height(), capture.data());
        std::printf(
            "wrote %s after %d frames (%d envs of %s; panel on env %d, variant %d: %zu "
            "randomized parameters, %zu reward terms)\n",
            o.screenshot.c_str(), o.frames, o.envs, scene.spec.name.c_str(), sel.env, variant,
            sel.changes.size(), breakdown->labels.size());
      }
      break;
    }
  }
  if (video) {
    video->close();
    std::printf("wrote %s: %d frames at %d fps (one per control step), %dx%d, %s\n",
                o.record.c_str(), video->frames(), video_fps, engine::io::even(window_w),
                engine::io::even(window_h), video->codec().c_str());
  }
}

}  // namespace

void add_view_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "view",
      "A window with a grid of envs and a panel on the selected one (its variant, randomized\n"
      "parameters, reward terms and a live reward plot). Space: pause; n: one step; r: reset;\n"
      "v: next variants; click: select an env; c: the scene's camera / the free camera; f: the\n"
      "free camera follows each robot; left-drag: orbit; right-drag: pan; wheel: zoom; Esc: quit.\n"
      "Needs a display; for scripted captures: xvfb-run simlab view --frames 30 --screenshot\n"
      "view.png");
  cmd->add_option("--scene", o->scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option("--envs", o->envs, "Envs in the grid (1-64)")->capture_default_str();
  cmd->add_option("--res", o->res, "Resolution of each env WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed")->capture_default_str();
  add_backend_option(*cmd, o->backend);
  cmd->add_option("--camera", o->camera,
                  "A scene camera or one of the model's (tracking ones follow their body); "
                  "default: the scene's first camera, else the free orbit camera; free: the orbit "
                  "camera (c toggles it, f makes it follow each env's robot)");
  cmd->add_option("--policy", o->policy,
                  "Actions: random (uniform in the actuator ranges), zero, or an exported "
                  "policy.pt (`simlab export`)")
      ->capture_default_str();
  cmd->add_option("--select", o->select, "The env the panel shows first")->capture_default_str();
  cmd->add_option("--first-variant", o->first_variant,
                  "The structural variant the first env runs (env i runs first + i); v pages on")
      ->capture_default_str();
  cmd->add_option("--frames", o->frames, "Quit after this many frames (0: when closed)")
      ->capture_default_str();
  cmd->add_option("--screenshot", o->screenshot,
                  "With --frames: write the last frame, panel included, here (PNG)");
  cmd->add_option("--record", o->record,
                  "Record the window, panel included, as an MP4 (a frame per control step, played "
                  "at the control rate) until it closes or --frames");
  cmd->callback([o] { run_view(*o); });
}

}  // namespace simlab::tools
