// Helpers shared by the scene tests.
#pragma once

#include <string>

#include "scenes/scene.h"

namespace simlab::scenes {

// A built-in scene, compiled.
inline Scene builtin(const std::string& name, std::uint64_t seed = 0, int max_variants = 0) {
  return compile_scene(load_scene(resolve_scene(name)), seed, max_variants);
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
