#include "engine/physics/mujoco/mjr_render.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GL/gl.h>
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/mujoco/mujoco_backend.h"

namespace simlab::engine::physics::mujoco {
namespace {

constexpr const char* kInstallHint =
    "cannot make an offscreen OpenGL context through EGL: install libegl1 and libegl-mesa0 (Mesa's "
    "llvmpipe renders on the CPU) or a GPU driver";

Error egl_error(const char* what) {
  return Error(SourceLocation{.field = "egl"}, std::string(what) + " failed (EGL error " +
                                                   std::to_string(eglGetError()) + "); " +
                                                   kInstallHint);
}

// A surfaceless desktop-OpenGL context, current on this thread for the object's lifetime.
class EglContext {
 public:
  EglContext() {
    auto get_platform_display = reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(
        eglGetProcAddress("eglGetPlatformDisplayEXT"));
    if (get_platform_display)
      display_ = get_platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    if (display_ == EGL_NO_DISPLAY) display_ = eglGetDisplay(EGL_DEFAULT_DISPLAY);
    if (display_ == EGL_NO_DISPLAY || !eglInitialize(display_, nullptr, nullptr))
      throw egl_error("eglInitialize");
    // MuJoCo draws into its own framebuffer object: the config needs no surface or depth bits.
    const EGLint attributes[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_SURFACE_TYPE, 0,
                                 EGL_NONE};
    EGLConfig config;
    EGLint count = 0;
    if (!eglChooseConfig(display_, attributes, &config, 1, &count) || count < 1)
      throw egl_error("eglChooseConfig");
    if (!eglBindAPI(EGL_OPENGL_API)) throw egl_error("eglBindAPI");
    context_ = eglCreateContext(display_, config, EGL_NO_CONTEXT, nullptr);
    if (context_ == EGL_NO_CONTEXT) throw egl_error("eglCreateContext");
    if (!eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, context_))
      throw egl_error("eglMakeCurrent");
  }
  ~EglContext() {
    eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    eglDestroyContext(display_, context_);
    eglTerminate(display_);
  }
  EglContext(const EglContext&) = delete;
  EglContext& operator=(const EglContext&) = delete;

 private:
  EGLDisplay display_ = EGL_NO_DISPLAY;
  EGLContext context_ = EGL_NO_CONTEXT;
};

}  // namespace

MjrTiming time_mjr_render(std::span<const World* const> worlds, int width, int height, int repeats,
                          bool plain) {
  EglContext egl;
  MjrTiming timing;
  // One mjrContext per distinct model (structural variant), made as MuJoCo's tools do.
  struct PerModel {
    const mjModel* model;
    std::unique_ptr<mjrContext> context;
    std::unique_ptr<mjvScene> scene;
  };
  std::vector<PerModel> models;
  std::vector<const MjWorld*> mj;
  std::vector<std::size_t> model_of;
  for (const World* w : worlds) {
    const auto* world = dynamic_cast<const MjWorld*>(w);
    SIMLAB_CHECK(world) << "time_mjr_render needs MuJoCo worlds";
    mj.push_back(world);
    const mjModel* shared = world->shared_model()->raw();
    auto it = std::find_if(models.begin(), models.end(),
                           [&](const PerModel& p) { return p.model == shared; });
    if (it == models.end()) {
      PerModel p{shared, std::make_unique<mjrContext>(), std::make_unique<mjvScene>()};
      mjv_defaultScene(p.scene.get());
      mjv_makeScene(shared, p.scene.get(), 2000);
      if (plain) {
        p.scene->flags[mjRND_SHADOW] = 0;
        p.scene->flags[mjRND_REFLECTION] = 0;
        p.scene->flags[mjRND_SKYBOX] = 0;
      }
      mjr_defaultContext(p.context.get());
      mjr_makeContext(shared, p.context.get(), mjFONTSCALE_100);
      mjr_setBuffer(mjFB_OFFSCREEN, p.context.get());
      if (p.context->offWidth < width || p.context->offHeight < height)
        throw Error(SourceLocation{.field = "--res"},
                    "MuJoCo's offscreen buffer is " + std::to_string(p.context->offWidth) + "x" +
                        std::to_string(p.context->offHeight) +
                        "; set <visual><global offwidth offheight> in the model for larger images");
      models.push_back(std::move(p));
      it = models.end() - 1;
    }
    model_of.push_back(static_cast<std::size_t>(it - models.begin()));
  }
  timing.renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));

  mjvOption option;
  mjv_defaultOption(&option);
  std::vector<unsigned char> rgb(static_cast<std::size_t>(width) * height * 3);
  std::vector<float> depth(static_cast<std::size_t>(width) * height);
  const mjrRect viewport{0, 0, width, height};
  timing.seconds = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < mj.size(); ++i) {
      PerModel& p = models[model_of[i]];
      mjvCamera camera;
      mjv_defaultFreeCamera(p.model, &camera);
      // mjv_updateScene takes a non-const mjData but only reads the state it draws.
      mjv_updateScene(mj[i]->model(), const_cast<mjData*>(mj[i]->data()), &option, nullptr, &camera,
                      mjCAT_ALL, p.scene.get());
      mjr_render(viewport, p.scene.get(), p.context.get());
      mjr_readPixels(rgb.data(), depth.data(), viewport, p.context.get());
    }
    timing.seconds =
        std::min(timing.seconds,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  for (auto& p : models) {
    mjr_freeContext(p.context.get());
    mjv_freeScene(p.scene.get());
  }
  return timing;
}

}  // namespace simlab::engine::physics::mujoco
