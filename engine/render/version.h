#pragma once
#include <string>
namespace simlab::engine::render {
// "headers 1.3.239, loader 1.3.239" (the loader part only when a loader answers).
std::string vulkan_version();
}  // namespace simlab::engine::render
