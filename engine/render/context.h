// The Vulkan device the renderer draws with, and its memory: no window system is involved, so it
// runs headless on Mesa's lavapipe (CPU) and on GPUs alike.
//
//   Context (instance, the chosen physical device, one graphics queue, a command pool)
//     -> Buffer / Image: a Vulkan object with its own device memory, freed with it
//
// Device choice: a discrete GPU, else an integrated one, else a CPU implementation (lavapipe), or
// the one named by $SIMLAB_VULKAN_DEVICE (a substring of its name). No device at all is an
// Error naming the package to install.
#pragma once

#include <cstdint>
#include <string>

#include <vulkan/vulkan.h>

namespace simlab::engine::render {

class Context;

// A buffer with its memory; host-visible ones stay mapped at `mapped`.
struct Buffer {
  Buffer() = default;
  Buffer(const Context& context, VkDeviceSize size, VkBufferUsageFlags usage, bool host_visible);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkDevice device = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void* mapped = nullptr;
};

// A 2D image with its memory and a view.
struct Image {
  Image() = default;
  Image(const Context& context, std::uint32_t width, std::uint32_t height, VkFormat format,
        VkImageUsageFlags usage, VkImageAspectFlags aspect);
  ~Image();
  Image(Image&& other) noexcept;
  Image& operator=(Image&& other) noexcept;
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  VkDevice device = VK_NULL_HANDLE;
  VkImage image = VK_NULL_HANDLE;
  VkImageView view = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkFormat format = VK_FORMAT_UNDEFINED;
};

class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkQueue queue() const { return queue_; }
  VkCommandPool command_pool() const { return pool_; }
  const std::string& device_name() const { return name_; }
  bool is_cpu() const { return cpu_; }

  // A memory type with `bits` allowed and `flags` set; throws if there is none.
  std::uint32_t memory_type(std::uint32_t bits, VkMemoryPropertyFlags flags) const;
  // Record commands with `record`, submit them, and wait until they finished.
  template <class F>
  void run(F&& record) const {
    VkCommandBuffer cmd = begin();
    record(cmd);
    submit_and_wait(cmd);
  }

 private:
  VkCommandBuffer begin() const;
  void submit_and_wait(VkCommandBuffer cmd) const;

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::string name_;
  bool cpu_ = false;
};

// A memory type of `device` with `bits` allowed and `flags` set; throws if there is none.
std::uint32_t find_memory_type(VkPhysicalDevice device, std::uint32_t bits,
                               VkMemoryPropertyFlags flags);

// Throws simlab::Error naming `what` when a Vulkan call fails.
void check(VkResult result, const char* what);

}  // namespace simlab::engine::render
