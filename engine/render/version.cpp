#include "engine/render/version.h"

#include <cstdint>
#include <string>

#include <vulkan/vulkan.h>

namespace simlab::engine::render {
namespace {
std::string dotted(std::uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) +
         "." + std::to_string(VK_API_VERSION_PATCH(v));
}
}  // namespace

std::string vulkan_version() {
  std::string out = "headers " + dotted(VK_HEADER_VERSION_COMPLETE);
  std::uint32_t loader = 0;
  if (vkEnumerateInstanceVersion(&loader) == VK_SUCCESS) out += ", loader " + dotted(loader);
  return out;
}
}  // namespace simlab::engine::render
