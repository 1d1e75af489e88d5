// simlab view: a desktop window showing a grid of envs as they run.
//
//   VectorEnv.step (random actions) -> BatchRenderer (headless, every env in one pass) -> the grid
//   of env images composed on the host -> copied into a swapchain image of a GLFW window -> shown
//
// The window's Vulkan device only presents; the renderer keeps its own headless device, so the
// viewer adds nothing to the rendering path that learners and datasets use. Controls: space pauses,
// n steps once while paused, r resets every env, left-drag orbits, right-drag pans, the wheel
// zooms, Esc quits. --frames N --screenshot FILE write the grid after N frames and quit (scripted
// captures, e.g. under xvfb-run).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/render/batch_renderer.h"
#include "engine/render/context.h"
#include "scenes/scene.h"
#include "tools/simlab/commands.h"

namespace simlab::tools {
namespace {

struct Options {
  std::string scene = "cartpole-balance";
  int envs = 16;
  std::string res = "160x120";  // per env
  std::uint64_t seed = 0;
  int frames = 0;  // 0: until the window closes
  std::string screenshot;
};

void vk(VkResult r, const char* what) {
  if (r != VK_SUCCESS)
    throw Error(SourceLocation{.field = "viewer"},
                std::string(what) + " failed (VkResult " + std::to_string(r) + ")");
}

// The window, its surface and swapchain on a presentation-only Vulkan device.
class Window {
 public:
  Window(int width, int height, const std::string& title) : width_(width), height_(height) {
    if (!glfwInit())
      throw Error(SourceLocation{.field = "viewer"},
                  "cannot open a window: no display (set DISPLAY, or run under xvfb-run for "
                  "scripted captures; `simlab render` needs no display)");
    if (!glfwVulkanSupported())
      throw Error(SourceLocation{.field = "viewer"},
                  "GLFW finds no Vulkan loader or driver: install mesa-vulkan-drivers");
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_FALSE);
    window_ = glfwCreateWindow(width, height, title.c_str(), nullptr, nullptr);
    if (!window_) throw Error(SourceLocation{.field = "viewer"}, "cannot create the window");

    std::uint32_t n = 0;
    const char** extensions = glfwGetRequiredInstanceExtensions(&n);
    VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                          .pApplicationName = "simlab view",
                          .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo info{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                              .pApplicationInfo = &app,
                              .enabledExtensionCount = n,
                              .ppEnabledExtensionNames = extensions};
    vk(vkCreateInstance(&info, nullptr, &instance_), "vkCreateInstance");
    vk(glfwCreateWindowSurface(instance_, window_, nullptr, &surface_), "glfwCreateWindowSurface");

    // The first device with a queue that draws and presents to this surface.
    std::uint32_t count = 0;
    vkEnumeratePhysicalDevices(instance_, &count, nullptr);
    std::vector<VkPhysicalDevice> devices(count);
    vkEnumeratePhysicalDevices(instance_, &count, devices.data());
    for (VkPhysicalDevice d : devices) {
      std::uint32_t nq = 0;
      vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, nullptr);
      for (std::uint32_t q = 0; q < nq && !physical_; ++q) {
        VkBool32 present = VK_FALSE;
        vkGetPhysicalDeviceSurfaceSupportKHR(d, q, surface_, &present);
        if (present) physical_ = d, family_ = q;
      }
    }
    if (!physical_)
      throw Error(SourceLocation{.field = "viewer"}, "no Vulkan device can present to the window");
    const float priority = 1;
    VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = family_,
                                  .queueCount = 1,
                                  .pQueuePriorities = &priority};
    const char* swapchain_ext = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
    VkDeviceCreateInfo device{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &queue,
                              .enabledExtensionCount = 1,
                              .ppEnabledExtensionNames = &swapchain_ext};
    vk(vkCreateDevice(physical_, &device, nullptr, &device_), "vkCreateDevice");
    vkGetDeviceQueue(device_, family_, 0, &queue_);
    make_swapchain();

    VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = family_};
    vk(vkCreateCommandPool(device_, &pool, nullptr, &pool_), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = pool_,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    vk(vkAllocateCommandBuffers(device_, &alloc, &cmd_), "vkAllocateCommandBuffers");
    VkSemaphoreCreateInfo sem{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    vk(vkCreateSemaphore(device_, &sem, nullptr, &acquired_), "vkCreateSemaphore");
    vk(vkCreateSemaphore(device_, &sem, nullptr, &copied_), "vkCreateSemaphore");
    VkFenceCreateInfo fence{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vk(vkCreateFence(device_, &fence, nullptr, &fence_), "vkCreateFence");

    // A host-visible staging buffer the composed grid is written into every frame.
    const VkDeviceSize bytes = static_cast<VkDeviceSize>(width) * height * 4;
    VkBufferCreateInfo buffer{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = bytes,
                              .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT};
    vk(vkCreateBuffer(device_, &buffer, nullptr, &staging_), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device_, staging_, &req);
    VkMemoryAllocateInfo mem{
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = engine::render::find_memory_type(
            physical_, req.memoryTypeBits,
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)};
    vk(vkAllocateMemory(device_, &mem, nullptr, &staging_memory_), "vkAllocateMemory");
    vk(vkBindBufferMemory(device_, staging_, staging_memory_, 0), "vkBindBufferMemory");
    vk(vkMapMemory(device_, staging_memory_, 0, bytes, 0, &mapped_), "vkMapMemory");
  }

  ~Window() {
    if (device_) {
      vkDeviceWaitIdle(device_);
      vkUnmapMemory(device_, staging_memory_);
      vkDestroyBuffer(device_, staging_, nullptr);
      vkFreeMemory(device_, staging_memory_, nullptr);
      vkDestroyFence(device_, fence_, nullptr);
      vkDestroySemaphore(device_, acquired_, nullptr);
      vkDestroySemaphore(device_, copied_, nullptr);
      vkDestroyCommandPool(device_, pool_, nullptr);
      vkDestroySwapchainKHR(device_, swapchain_, nullptr);
      vkDestroyDevice(device_, nullptr);
    }
    if (surface_) vkDestroySurfaceKHR(instance_, surface_, nullptr);
    if (instance_) vkDestroyInstance(instance_, nullptr);
    if (window_) glfwDestroyWindow(window_);
    glfwTerminate();
  }

  GLFWwindow* glfw() const { return window_; }
  bool bgra() const { return bgra_; }

  // Show an [height, width, 3] RGB image.
  void present(const std::vector<std::uint8_t>& rgb) {
    auto* out = static_cast<std::uint8_t*>(mapped_);
    for (std::size_t i = 0; i < static_cast<std::size_t>(width_) * height_; ++i) {
      out[4 * i + 0] = rgb[3 * i + (bgra_ ? 2 : 0)];
      out[4 * i + 1] = rgb[3 * i + 1];
      out[4 * i + 2] = rgb[3 * i + (bgra_ ? 0 : 2)];
      out[4 * i + 3] = 255;
    }
    std::uint32_t index = 0;
    vk(vkAcquireNextImageKHR(device_, swapchain_, UINT64_MAX, acquired_, VK_NULL_HANDLE, &index),
       "vkAcquireNextImageKHR");
    VkImage image = images_[index];
    vkResetCommandBuffer(cmd_, 0);
    VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkBeginCommandBuffer(cmd_, &begin);
    auto barrier = [&](VkImageLayout from, VkImageLayout to, VkAccessFlags src, VkAccessFlags dst,
                       VkPipelineStageFlags src_stage, VkPipelineStageFlags dst_stage) {
      VkImageMemoryBarrier b{.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                             .srcAccessMask = src,
                             .dstAccessMask = dst,
                             .oldLayout = from,
                             .newLayout = to,
                             .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                             .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                             .image = image,
                             .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
      vkCmdPipelineBarrier(cmd_, src_stage, dst_stage, 0, 0, nullptr, 0, nullptr, 1, &b);
    };
    barrier(VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
            VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
            VK_PIPELINE_STAGE_TRANSFER_BIT);
    VkBufferImageCopy copy{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                           .imageExtent = {static_cast<std::uint32_t>(width_),
                                           static_cast<std::uint32_t>(height_), 1}};
    vkCmdCopyBufferToImage(cmd_, staging_, image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &copy);
    barrier(VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
            VK_ACCESS_TRANSFER_WRITE_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT);
    vkEndCommandBuffer(cmd_);
    const VkPipelineStageFlags wait = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo submit{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                        .waitSemaphoreCount = 1,
                        .pWaitSemaphores = &acquired_,
                        .pWaitDstStageMask = &wait,
                        .commandBufferCount = 1,
                        .pCommandBuffers = &cmd_,
                        .signalSemaphoreCount = 1,
                        .pSignalSemaphores = &copied_};
    vk(vkQueueSubmit(queue_, 1, &submit, fence_), "vkQueueSubmit");
    VkPresentInfoKHR present{.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                             .waitSemaphoreCount = 1,
                             .pWaitSemaphores = &copied_,
                             .swapchainCount = 1,
                             .pSwapchains = &swapchain_,
                             .pImageIndices = &index};
    vkQueuePresentKHR(queue_, &present);
    vk(vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    vkResetFences(device_, 1, &fence_);
  }

 private:
  void make_swapchain() {
    VkSurfaceCapabilitiesKHR caps;
    vkGetPhysicalDeviceSurfaceCapabilitiesKHR(physical_, surface_, &caps);
    std::uint32_t n = 0;
    vkGetPhysicalDeviceSurfaceFormatsKHR(physical_, surface_, &n, nullptr);
    std::vector<VkSurfaceFormatKHR> formats(n);
    vkGetPhysicalDeviceSurfaceFormatsKHR(physical_, surface_, &n, formats.data());
    VkSurfaceFormatKHR format = formats.at(0);
    for (const auto& f : formats)
      if (f.format == VK_FORMAT_B8G8R8A8_UNORM || f.format == VK_FORMAT_R8G8B8A8_UNORM) format = f;
    bgra_ = format.format == VK_FORMAT_B8G8R8A8_UNORM || format.format == VK_FORMAT_B8G8R8A8_SRGB;
    if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
      throw Error(SourceLocation{.field = "viewer"}, "the window's images cannot be copied into");
    VkSwapchainCreateInfoKHR info{
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
        .surface = surface_,
        .minImageCount = std::max(2u, caps.minImageCount),
        .imageFormat = format.format,
        .imageColorSpace = format.colorSpace,
        .imageExtent = {static_cast<std::uint32_t>(width_), static_cast<std::uint32_t>(height_)},
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT,
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .preTransform = caps.currentTransform,
        .compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR,
        .presentMode = VK_PRESENT_MODE_FIFO_KHR,
        .clipped = VK_TRUE};
    if (caps.maxImageCount > 0)
      info.minImageCount = std::min(info.minImageCount, caps.maxImageCount);
    vk(vkCreateSwapchainKHR(device_, &info, nullptr, &swapchain_), "vkCreateSwapchainKHR");
    vkGetSwapchainImagesKHR(device_, swapchain_, &n, nullptr);
    images_.resize(n);
    vkGetSwapchainImagesKHR(device_, swapchain_, &n, images_.data());
  }

  int width_, height_;
  GLFWwindow* window_ = nullptr;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  std::uint32_t family_ = 0;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkSwapchainKHR swapchain_ = VK_NULL_HANDLE;
  std::vector<VkImage> images_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkSemaphore acquired_ = VK_NULL_HANDLE, copied_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  VkBuffer staging_ = VK_NULL_HANDLE;
  VkDeviceMemory staging_memory_ = VK_NULL_HANDLE;
  void* mapped_ = nullptr;
  bool bgra_ = true;
};

// Orbit camera shared by every env, around each env's own model centre.
struct Orbit {
  float azimuth = -55, elevation = 25, distance_scale = 1.6f;
  float pan[3] = {0, 0, 0};
  engine::render::Camera camera(const engine::physics::VisualModel& v) const {
    const float d = distance_scale * std::max(v.extent, 0.1f);
    const float a = azimuth * 3.14159265f / 180, e = elevation * 3.14159265f / 180;
    const float target[3] = {v.center[0] + pan[0], v.center[1] + pan[1], v.center[2] + pan[2]};
    const float eye[3] = {target[0] + d * std::cos(e) * std::cos(a),
                          target[1] + d * std::cos(e) * std::sin(a), target[2] + d * std::sin(e)};
    return engine::render::look_at(eye, target, 45);
  }
};

struct Input {
  Orbit orbit;
  bool paused = false, step_once = false, reset = false;
  double last_x = 0, last_y = 0;
};

void run_view(const Options& o) {
  int w = 0, h = 0;
  char x = 0;
  if (std::sscanf(o.res.c_str(), "%d%c%d", &w, &x, &h) != 3 || x != 'x' || w < 16 || h < 16)
    throw Error(SourceLocation{.field = "--res"}, "expected WIDTHxHEIGHT per env, e.g. 160x120");
  if (o.envs < 1 || o.envs > 64) throw Error(SourceLocation{.field = "--envs"}, "must be 1 to 64");
  auto scene =
      scenes::compile_scene(scenes::load_scene(scenes::resolve_scene(o.scene)), o.seed, o.envs);
  auto env = scenes::make_env(scene, o.envs, 0, o.seed);
  std::vector<std::shared_ptr<const engine::physics::Model>> models;
  for (const auto& v : scene.variants)
    models.push_back(v.model);
  engine::render::BatchRenderer renderer(models, {.width = w, .height = h});

  engine::render::ImageGrid grid(o.envs, w, h, 0);
  Window window(grid.width, grid.height, "simlab view: " + scene.spec.name);
  Input input;
  glfwSetWindowUserPointer(window.glfw(), &input);
  glfwSetKeyCallback(window.glfw(), [](GLFWwindow* win, int key, int, int action, int) {
    auto* in = static_cast<Input*>(glfwGetWindowUserPointer(win));
    if (action != GLFW_PRESS) return;
    if (key == GLFW_KEY_SPACE) in->paused = !in->paused;
    if (key == GLFW_KEY_N) in->step_once = true;
    if (key == GLFW_KEY_R) in->reset = true;
    if (key == GLFW_KEY_ESCAPE) glfwSetWindowShouldClose(win, GLFW_TRUE);
  });
  glfwSetScrollCallback(window.glfw(), [](GLFWwindow* win, double, double dy) {
    auto* in = static_cast<Input*>(glfwGetWindowUserPointer(win));
    in->orbit.distance_scale =
        std::clamp(in->orbit.distance_scale * std::pow(0.9f, static_cast<float>(dy)), 0.2f, 10.0f);
  });

  std::vector<const engine::physics::World*> worlds;
  std::vector<int> variants;
  for (int i = 0; i < o.envs; ++i)
    worlds.push_back(&env->world(i)), variants.push_back(env->variant_of(i));
  const int act = env->action_space().dim();
  std::vector<float> actions(static_cast<std::size_t>(o.envs) * act);
  engine::Rng rng(o.seed, 0, 0, 12);
  std::vector<engine::render::Camera> cameras(static_cast<std::size_t>(o.envs));
  for (int frame = 0; !glfwWindowShouldClose(window.glfw()); ++frame) {
    glfwPollEvents();
    // Mouse: left-drag orbits, right-drag pans.
    double mx, my;
    glfwGetCursorPos(window.glfw(), &mx, &my);
    const double dx = mx - input.last_x, dy = my - input.last_y;
    input.last_x = mx, input.last_y = my;
    if (glfwGetMouseButton(window.glfw(), GLFW_MOUSE_BUTTON_LEFT) == GLFW_PRESS) {
      input.orbit.azimuth -= static_cast<float>(dx) * 0.4f;
      input.orbit.elevation =
          std::clamp(input.orbit.elevation + static_cast<float>(dy) * 0.3f, -89.0f, 89.0f);
    }
    if (glfwGetMouseButton(window.glfw(), GLFW_MOUSE_BUTTON_RIGHT) == GLFW_PRESS) {
      input.orbit.pan[0] -= static_cast<float>(dx) * 0.005f;
      input.orbit.pan[2] += static_cast<float>(dy) * 0.005f;
    }
    if (input.reset) env->reset(), input.reset = false;
    if (!input.paused || input.step_once) {
      for (auto& a : actions)
        a = static_cast<float>(rng.uniform(-1.0, 1.0));
      env->step(actions);
      input.step_once = false;
    }
    for (int i = 0; i < o.envs; ++i)
      cameras[i] = input.orbit.camera(scene.variants[variants[i]].model->visual());
    renderer.render(worlds, variants, cameras);
    grid.fill(renderer.rgb().data());
    window.present(grid.rgb);
    if (o.frames > 0 && frame + 1 >= o.frames) {
      if (!o.screenshot.empty()) {
        engine::render::write_png(o.screenshot, grid.width, grid.height, grid.rgb.data());
        std::printf("wrote %s after %d frames (%d envs of %s)\n", o.screenshot.c_str(), o.frames,
                    o.envs, scene.spec.name.c_str());
      }
      break;
    }
  }
}

}  // namespace

void add_view_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "view",
      "A window with a grid of envs running with random actions. Space: pause; n: one step;\n"
      "r: reset; left-drag: orbit; right-drag: pan; wheel: zoom; Esc: quit.");
  cmd->add_option("--scene", o->scene, "Built-in scene name or spec file")->capture_default_str();
  cmd->add_option("--envs", o->envs, "Envs in the grid (1-64)")->capture_default_str();
  cmd->add_option("--res", o->res, "Resolution of each env WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed")->capture_default_str();
  cmd->add_option("--frames", o->frames, "Quit after this many frames (0: when closed)")
      ->capture_default_str();
  cmd->add_option("--screenshot", o->screenshot, "With --frames: write the last frame here (PNG)");
  cmd->callback([o] { run_view(*o); });
}

}  // namespace simlab::tools
