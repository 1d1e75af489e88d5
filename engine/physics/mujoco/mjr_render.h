// MuJoCo's own OpenGL renderer (mjr_render), as the baseline `simlab bench render` compares the
// Vulkan batch renderer against: one offscreen EGL context (surfaceless, so it runs headless on
// Mesa's llvmpipe or on a GPU), envs drawn and read back one at a time, which is how MuJoCo 2.2.2
// renders.
#pragma once

#include <span>
#include <string>

#include "engine/physics/backend.h"

namespace simlab::engine::physics::mujoco {

struct MjrTiming {
  double seconds = 0;    // rendering and reading back every world once (RGB and depth)
  std::string renderer;  // GL_RENDERER of the context
};

// Render each of `worlds` (MuJoCo worlds) from a free camera that frames its model, at
// width x height, `repeats` times; returns the fastest pass. Throws simlab::Error when no
// EGL/OpenGL context can be made (naming the packages to install). `plain`: shadows, reflections
// and the skybox off, which is what simlab's renderer draws (MuJoCo renders a 4096^2 shadow map per
// light per frame by default).
MjrTiming time_mjr_render(std::span<const World* const> worlds, int width, int height, int repeats,
                          bool plain = false);

}  // namespace simlab::engine::physics::mujoco
