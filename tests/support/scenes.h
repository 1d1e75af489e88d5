// Helpers shared by the scene tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "scenes/scene.h"

namespace simlab::scenes {

// A built-in scene, compiled.
inline Scene builtin(const std::string& name, std::uint64_t seed = 0, int max_variants = 0) {
  return compile_scene(load_scene(resolve_scene(name)), seed, max_variants);
}

// The index of the element called `name` (names(element).size() where there is none).
inline int index_of(const engine::physics::Model& model, engine::physics::Element element,
                    const std::string& name) {
  const auto names = model.names(element);
  return static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
}

// The error compiling a spec text raises (its file is called "spec.toml"), as printed.
inline std::string error_of(const std::string& text) {
  try {
    compile_scene(parse_scene(text, "spec.toml"));
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace simlab::scenes
