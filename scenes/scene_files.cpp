// Where spec files are: built-in scene names, the scene directory and its listing.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/paths.h"
#include "scenes/scene.h"
#include "scenes/terms.h"

namespace simlab::scenes {

namespace fs = std::filesystem;

fs::path scene_dir() {
  if (const char* env = std::getenv("SIMLAB_SCENE_DIR"); env && *env) return env;
  return SIMLAB_SCENE_DIR;
}

namespace {

std::vector<fs::path> specs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<fs::path> builtin_scenes() {
  return specs_in(scene_dir());
}

std::vector<fs::path> scene_path() {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("SIMLAB_SCENE_PATH"); env && *env) {
    const std::string path = env;
    for (std::size_t start = 0; start <= path.size();) {
      const auto colon = path.find(':', start);
      const auto end = colon == std::string::npos ? path.size() : colon;
      if (end > start) out.emplace_back(path.substr(start, end - start));
      start = end + 1;
    }
  }
  out.push_back(scene_dir());
  return out;
}

std::vector<SceneEntry> list_scenes() {
  std::vector<SceneEntry> out;
  const auto folders = scene_path();
  for (std::size_t f = 0; f < folders.size(); ++f)
    for (const auto& file : specs_in(folders[f])) {
      SceneEntry e{.name = file.stem().string(), .file = file, .builtin = f + 1 == folders.size()};
      e.shadowed = std::any_of(out.begin(), out.end(),
                               [&](const SceneEntry& o) { return o.name == e.name; });
      out.push_back(std::move(e));
    }
  return out;
}

fs::path resolve_scene(const std::string& name_or_path) {
  if (engine::path_exists(name_or_path)) return name_or_path;
  for (const auto& dir : scene_path())
    if (const fs::path file = dir / (name_or_path + ".toml"); engine::path_exists(file))
      return file;
  std::vector<std::string> names;
  for (const auto& e : list_scenes())
    names.push_back(e.name);
  std::string tail = suggest(name_or_path, names, "scenes");
  if (tail.find("did you mean") == std::string::npos)
    tail += "; SIMLAB_SCENE_PATH (colon-separated folders) adds your own scenes to the built-ins";
  throw Error(SourceLocation{.file = name_or_path}, "no such scene file or built-in scene" + tail);
}

}  // namespace simlab::scenes
