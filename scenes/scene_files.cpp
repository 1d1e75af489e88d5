// Where spec files are: built-in scene names, the scene directory and its listing.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "engine/core/error.h"
#include "scenes/scene.h"
#include "scenes/terms.h"

namespace simlab::scenes {

namespace fs = std::filesystem;

fs::path scene_dir() {
  if (const char* env = std::getenv("SIMLAB_SCENE_DIR"); env && *env) return env;
  return SIMLAB_SCENE_DIR;
}

std::vector<fs::path> builtin_scenes() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(scene_dir(), ec))
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

fs::path resolve_scene(const std::string& name_or_path) {
  if (fs::exists(name_or_path)) return name_or_path;
  const fs::path builtin = scene_dir() / (name_or_path + ".toml");
  if (fs::exists(builtin)) return builtin;
  std::vector<std::string> names;
  for (const auto& p : builtin_scenes())
    names.push_back(p.stem().string());
  throw Error(SourceLocation{.file = name_or_path},
              "no such scene file or built-in scene" + suggest(name_or_path, names, "built-ins"));
}

}  // namespace simlab::scenes
