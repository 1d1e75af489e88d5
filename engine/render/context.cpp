#include "engine/render/context.h"

#include <cstdlib>
#include <utility>
#include <vector>

#include "engine/core/error.h"

namespace simlab::engine::render {
namespace {

constexpr const char* kInstallHint =
    "no Vulkan device found: install a Vulkan driver (on Debian: apt install mesa-vulkan-drivers "
    "for the CPU renderer lavapipe, or your GPU vendor's driver)";

int device_rank(const VkPhysicalDeviceProperties& p) {
  switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 3;
    default:
      return 4;
  }
}

}  // namespace

void check(VkResult result, const char* what) {
  if (result != VK_SUCCESS)
    throw Error(SourceLocation{.field = "vulkan"},
                std::string(what) + " failed (VkResult " + std::to_string(result) + ")");
}

Context::Context() {
  VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                        .pApplicationName = "simlab",
                        .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo info{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                            .pApplicationInfo = &app};
  const VkResult created = vkCreateInstance(&info, nullptr, &instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER || created == VK_ERROR_INITIALIZATION_FAILED)
    throw Error(SourceLocation{.field = "vulkan"}, kInstallHint);
  check(created, "vkCreateInstance");

  std::uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance_, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  vkEnumeratePhysicalDevices(instance_, &count, devices.data());
  if (devices.empty()) {
    vkDestroyInstance(instance_, nullptr);
    throw Error(SourceLocation{.field = "vulkan"}, kInstallHint);
  }
  const char* wanted = std::getenv("SIMLAB_VULKAN_DEVICE");
  int best_rank = 1 << 30;
  std::uint32_t best_queue = 0;
  std::vector<std::string> names;
  for (VkPhysicalDevice d : devices) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(d, &p);
    names.emplace_back(p.deviceName);
    std::uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> families(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, families.data());
    int queue = -1;
    for (std::uint32_t q = 0; q < nq && queue < 0; ++q)
      if (families[q].queueFlags & VK_QUEUE_GRAPHICS_BIT) queue = static_cast<int>(q);
    if (queue < 0) continue;
    int rank = device_rank(p);
    if (wanted && *wanted)
      rank = std::string(p.deviceName).find(wanted) != std::string::npos ? -1 : 99;
    if (rank < best_rank) {
      best_rank = rank;
      physical_ = d;
      best_queue = static_cast<std::uint32_t>(queue);
      name_ = p.deviceName;
      cpu_ = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    }
  }
  if (!physical_ || (wanted && *wanted && best_rank != -1)) {
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    vkDestroyInstance(instance_, nullptr);
    throw Error(SourceLocation{.field = "SIMLAB_VULKAN_DEVICE"},
                physical_
                    ? "no Vulkan device matches '" + std::string(wanted) + "' (have: " + list + ")"
                    : std::string(kInstallHint));
  }

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                .queueFamilyIndex = best_queue,
                                .queueCount = 1,
                                .pQueuePriorities = &priority};
  VkDeviceCreateInfo device{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &queue};
  check(vkCreateDevice(physical_, &device, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, best_queue, 0, &queue_);
  VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                               .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                               .queueFamilyIndex = best_queue};
  check(vkCreateCommandPool(device_, &pool, nullptr, &pool_), "vkCreateCommandPool");
  VkFenceCreateInfo fence{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  check(vkCreateFence(device_, &fence, nullptr, &fence_), "vkCreateFence");
}

Context::~Context() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyFence(device_, fence_, nullptr);
    vkDestroyCommandPool(device_, pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

std::uint32_t find_memory_type(VkPhysicalDevice device, std::uint32_t bits,
                               VkMemoryPropertyFlags flags) {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(device, &props);
  for (std::uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (props.memoryTypes[i].propertyFlags & flags) == flags) return i;
  throw Error(SourceLocation{.field = "vulkan"},
              "no Vulkan memory type with the needed properties");
}

std::uint32_t Context::memory_type(std::uint32_t bits, VkMemoryPropertyFlags flags) const {
  return find_memory_type(physical_, bits, flags);
}

VkCommandBuffer Context::begin() const {
  VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = pool_,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  VkCommandBuffer cmd;
  check(vkAllocateCommandBuffers(device_, &alloc, &cmd), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  check(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
  return cmd;
}

void Context::submit_and_wait(VkCommandBuffer cmd) const {
  check(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  VkSubmitInfo submit{
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
  check(vkQueueSubmit(queue_, 1, &submit, fence_), "vkQueueSubmit");
  check(vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  check(vkResetFences(device_, 1, &fence_), "vkResetFences");
  vkFreeCommandBuffers(device_, pool_, 1, &cmd);
}

// ---------------------------------------------------------------------------------------------
Buffer::Buffer(const Context& context, VkDeviceSize bytes, VkBufferUsageFlags usage,
               bool host_visible)
    : device(context.device()), size(bytes) {
  VkBufferCreateInfo info{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                          .size = bytes,
                          .usage = usage,
                          .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  check(vkCreateBuffer(device, &info, nullptr, &buffer), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, buffer, &req);
  const VkMemoryPropertyFlags flags =
      host_visible ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                   : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  VkMemoryAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = context.memory_type(req.memoryTypeBits, flags)};
  check(vkAllocateMemory(device, &alloc, nullptr, &memory), "vkAllocateMemory");
  check(vkBindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory");
  if (host_visible) check(vkMapMemory(device, memory, 0, bytes, 0, &mapped), "vkMapMemory");
}

Buffer::~Buffer() {
  if (!device) return;
  if (mapped) vkUnmapMemory(device, memory);
  vkDestroyBuffer(device, buffer, nullptr);
  vkFreeMemory(device, memory, nullptr);
}

Buffer::Buffer(Buffer&& o) noexcept {
  *this = std::move(o);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  std::swap(device, o.device);
  std::swap(buffer, o.buffer);
  std::swap(memory, o.memory);
  std::swap(size, o.size);
  std::swap(mapped, o.mapped);
  return *this;
}

Image::Image(const Context& context, std::uint32_t width, std::uint32_t height, VkFormat fmt,
             VkImageUsageFlags usage, VkImageAspectFlags aspect)
    : device(context.device()), format(fmt) {
  VkImageCreateInfo info{.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
                         .imageType = VK_IMAGE_TYPE_2D,
                         .format = fmt,
                         .extent = {width, height, 1},
                         .mipLevels = 1,
                         .arrayLayers = 1,
                         .samples = VK_SAMPLE_COUNT_1_BIT,
                         .tiling = VK_IMAGE_TILING_OPTIMAL,
                         .usage = usage,
                         .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
                         .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  check(vkCreateImage(device, &info, nullptr, &image), "vkCreateImage");
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(device, image, &req);
  VkMemoryAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = context.memory_type(
                                 req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)};
  check(vkAllocateMemory(device, &alloc, nullptr, &memory), "vkAllocateMemory");
  check(vkBindImageMemory(device, image, memory, 0), "vkBindImageMemory");
  VkImageViewCreateInfo view_info{.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                                  .image = image,
                                  .viewType = VK_IMAGE_VIEW_TYPE_2D,
                                  .format = fmt,
                                  .subresourceRange = {aspect, 0, 1, 0, 1}};
  check(vkCreateImageView(device, &view_info, nullptr, &view), "vkCreateImageView");
}

Image::~Image() {
  if (!device) return;
  vkDestroyImageView(device, view, nullptr);
  vkDestroyImage(device, image, nullptr);
  vkFreeMemory(device, memory, nullptr);
}

Image::Image(Image&& o) noexcept {
  *this = std::move(o);
}

Image& Image::operator=(Image&& o) noexcept {
  std::swap(device, o.device);
  std::swap(image, o.image);
  std::swap(view, o.view);
  std::swap(memory, o.memory);
  std::swap(format, o.format);
  return *this;
}

}  // namespace simlab::engine::render
