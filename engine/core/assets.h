// Where simlab finds its built-in assets (robot models, meshes, textures) and scene specs:
// $SIMLAB_ASSET_DIR if set, else the assets/ folder of the source tree the binary was built from.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace simlab::engine {

std::filesystem::path asset_dir();

// Resolve a model argument: an existing file path, or the name of a built-in model
// ("humanoid" -> assets/models/humanoid.xml). Throws simlab::Error listing the built-ins.
std::filesystem::path resolve_model(const std::string& name_or_path);

// Names of the built-in models (files in assets/models), sorted.
std::vector<std::string> builtin_models();

}  // namespace simlab::engine
