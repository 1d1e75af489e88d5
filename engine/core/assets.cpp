#include "engine/core/assets.h"

#include <algorithm>
#include <cstdlib>

#include "engine/core/error.h"
#include "engine/core/paths.h"

namespace simlab::engine {

std::filesystem::path asset_dir() {
  if (const char* env = std::getenv("SIMLAB_ASSET_DIR"); env && *env) return env;
  return SIMLAB_SOURCE_ASSET_DIR;
}

std::vector<std::string> builtin_models() {
  std::vector<std::string> names;
  const auto dir = asset_dir() / "models";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".xml" || entry.path().extension() == ".urdf")
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path resolve_model(const std::string& name_or_path) {
  const std::filesystem::path as_path(name_or_path);
  if (path_exists(as_path)) return as_path;
  const bool looks_like_path = as_path.has_extension() || as_path.has_parent_path();
  if (!looks_like_path) {
    for (const char* ext : {".xml", ".urdf"}) {
      auto candidate = asset_dir() / "models" / (name_or_path + ext);
      if (path_exists(candidate)) return candidate;
    }
  }
  std::string builtins;
  for (const auto& n : builtin_models())
    builtins += (builtins.empty() ? "" : ", ") + n;
  throw Error(SourceLocation{.file = name_or_path},
              looks_like_path ? "no such model file"
                              : "no such model file or built-in model (built-ins: " + builtins +
                                    "; set SIMLAB_ASSET_DIR if assets/ moved)");
}

}  // namespace simlab::engine
