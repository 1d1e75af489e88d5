#include "tools/simlab/view_window.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>

#include "engine/core/error.h"
#include "engine/render/context.h"

namespace simlab::tools {
namespace {

Error viewer_error(const std::string& message) {
  return Error(SourceLocation{.field = "viewer"}, message);
}

void vk(VkResult r, const char* what) {
  if (r != VK_SUCCESS)
    throw viewer_error(std::string(what) + " failed (VkResult " + std::to_string(r) + ")");
}

// A host-visible buffer, mapped for its whole life.
struct HostBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;

  void create(VkPhysicalDevice physical, VkDevice device, VkDeviceSize bytes,
              VkBufferUsageFlags usage) {
    VkBufferCreateInfo info{
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes, .usage = usage};
    vk(vkCreateBuffer(device, &info, nullptr, &buffer), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device, buffer, &req);
    VkMemoryAllocateInfo mem{
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = engine::render::find_memory_type(
            physical, req.memoryTypeBits,
            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)};
    vk(vkAllocateMemory(device, &mem, nullptr, &memory), "vkAllocateMemory");
    vk(vkBindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory");
    vk(vkMapMemory(device, memory, 0, bytes, 0, &mapped), "vkMapMemory");
  }
  void destroy(VkDevice device) {
    if (!buffer) return;
    vkUnmapMemory(device, memory);
    vkDestroyBuffer(device, buffer, nullptr);
    vkFreeMemory(device, memory, nullptr);
  }
};

}  // namespace

struct ViewerWindow::Vulkan {
  VkInstance instance = VK_NULL_HANDLE;
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  std::uint32_t family = 0;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  VkSwapchainKHR swapchain = VK_NULL_HANDLE;
  VkFormat format = VK_FORMAT_B8G8R8A8_UNORM;
  bool bgra = true;
  std::vector<VkImage> images;
  std::vector<VkImageView> views;
  std::vector<VkFramebuffer> framebuffers;
  VkRenderPass render_pass = VK_NULL_HANDLE;
  VkDescriptorPool descriptors = VK_NULL_HANDLE;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkSemaphore acquired = VK_NULL_HANDLE, drawn = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  HostBuffer staging;  // the host image, BGRA/RGBA, window-sized
  HostBuffer readback;

  void submit_and_wait(const VkSubmitInfo& submit) {
    vk(vkQueueSubmit(queue, 1, &submit, fence), "vkQueueSubmit");
    vk(vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    vkResetFences(device, 1, &fence);
  }
};

namespace {

// A Vulkan instance with what GLFW needs for windows, and the window's surface.
void create_instance(ViewerWindow::Vulkan& v, GLFWwindow* window) {
  std::uint32_t n = 0;
  const char** extensions = glfwGetRequiredInstanceExtensions(&n);
  VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                        .pApplicationName = "simlab view",
                        .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo instance{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app,
                                .enabledExtensionCount = n,
                                .ppEnabledExtensionNames = extensions};
  vk(vkCreateInstance(&instance, nullptr, &v.instance), "vkCreateInstance");
  vk(glfwCreateWindowSurface(v.instance, window, nullptr, &v.surface), "glfwCreateWindowSurface");
}

// The first device with a queue that draws and presents to the surface, and that queue.
void create_device(ViewerWindow::Vulkan& v) {
  std::uint32_t count = 0;
  vkEnumeratePhysicalDevices(v.instance, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  vkEnumeratePhysicalDevices(v.instance, &count, devices.data());
  for (VkPhysicalDevice d : devices) {
    std::uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> families(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, families.data());
    for (std::uint32_t q = 0; q < nq && !v.physical; ++q) {
      VkBool32 present = VK_FALSE;
      vkGetPhysicalDeviceSurfaceSupportKHR(d, q, v.surface, &present);
      if (present && (families[q].queueFlags & VK_QUEUE_GRAPHICS_BIT)) v.physical = d, v.family = q;
    }
  }
  if (!v.physical) throw viewer_error("no Vulkan device can draw to and present the window");
  const float priority = 1;
  VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                .queueFamilyIndex = v.family,
                                .queueCount = 1,
                                .pQueuePriorities = &priority};
  const char* swapchain_ext = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
  VkDeviceCreateInfo device{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &queue,
                            .enabledExtensionCount = 1,
                            .ppEnabledExtensionNames = &swapchain_ext};
  vk(vkCreateDevice(v.physical, &device, nullptr, &v.device), "vkCreateDevice");
  vkGetDeviceQueue(v.device, v.family, 0, &v.queue);
}

// Swapchain: images we copy into, draw the UI on, and read back for screenshots.
void create_swapchain(ViewerWindow::Vulkan& v, int width, int height) {
  VkSurfaceCapabilitiesKHR caps;
  vkGetPhysicalDeviceSurfaceCapabilitiesKHR(v.physical, v.surface, &caps);
  std::uint32_t n = 0;
  vkGetPhysicalDeviceSurfaceFormatsKHR(v.physical, v.surface, &n, nullptr);
  std::vector<VkSurfaceFormatKHR> formats(n);
  vkGetPhysicalDeviceSurfaceFormatsKHR(v.physical, v.surface, &n, formats.data());
  VkSurfaceFormatKHR format = formats.at(0);
  for (const auto& f : formats)
    if (f.format == VK_FORMAT_B8G8R8A8_UNORM || f.format == VK_FORMAT_R8G8B8A8_UNORM) format = f;
  v.format = format.format;
  v.bgra = format.format == VK_FORMAT_B8G8R8A8_UNORM || format.format == VK_FORMAT_B8G8R8A8_SRGB;
  const VkImageUsageFlags usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                                  VK_IMAGE_USAGE_TRANSFER_SRC_BIT |
                                  VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
  if ((caps.supportedUsageFlags & usage) != usage)
    throw viewer_error("the window's images cannot be copied into, read back and drawn on");
  VkSwapchainCreateInfoKHR swapchain{
      .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
      .surface = v.surface,
      .minImageCount = std::max(2u, caps.minImageCount),
      .imageFormat = format.format,
      .imageColorSpace = format.colorSpace,
      .imageExtent = {static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height)},
      .imageArrayLayers = 1,
      .imageUsage = usage,
      .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
      .preTransform = caps.currentTransform,
      .compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR,
      .presentMode = VK_PRESENT_MODE_FIFO_KHR,
      .clipped = VK_TRUE};
  if (caps.maxImageCount > 0)
    swapchain.minImageCount = std::min(swapchain.minImageCount, caps.maxImageCount);
  vk(vkCreateSwapchainKHR(v.device, &swapchain, nullptr, &v.swapchain), "vkCreateSwapchainKHR");
  vkGetSwapchainImagesKHR(v.device, v.swapchain, &n, nullptr);
  v.images.resize(n);
  vkGetSwapchainImagesKHR(v.device, v.swapchain, &n, v.images.data());
}

// One pass over the copied image: the UI is drawn on top (load), and the image leaves ready to be
// read back, then presented. A view and a framebuffer per swapchain image.
void create_render_pass(ViewerWindow::Vulkan& v, int width, int height) {
  VkAttachmentDescription attachment{.format = v.format,
                                     .samples = VK_SAMPLE_COUNT_1_BIT,
                                     .loadOp = VK_ATTACHMENT_LOAD_OP_LOAD,
                                     .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                                     .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                                     .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                     .initialLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                                     .finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL};
  VkAttachmentReference color{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription subpass{.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                               .colorAttachmentCount = 1,
                               .pColorAttachments = &color};
  const VkSubpassDependency dependencies[2] = {
      {.srcSubpass = VK_SUBPASS_EXTERNAL,
       .dstSubpass = 0,
       .srcStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT,
       .dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_READ_BIT | VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT},
      {.srcSubpass = 0,
       .dstSubpass = VK_SUBPASS_EXTERNAL,
       .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
       .dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT,
       .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT}};
  VkRenderPassCreateInfo pass{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                              .attachmentCount = 1,
                              .pAttachments = &attachment,
                              .subpassCount = 1,
                              .pSubpasses = &subpass,
                              .dependencyCount = 2,
                              .pDependencies = dependencies};
  vk(vkCreateRenderPass(v.device, &pass, nullptr, &v.render_pass), "vkCreateRenderPass");
  for (VkImage image : v.images) {
    VkImageViewCreateInfo view{.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                               .image = image,
                               .viewType = VK_IMAGE_VIEW_TYPE_2D,
                               .format = v.format,
                               .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    vk(vkCreateImageView(v.device, &view, nullptr, &v.views.emplace_back()), "vkCreateImageView");
    VkFramebufferCreateInfo fb{.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                               .renderPass = v.render_pass,
                               .attachmentCount = 1,
                               .pAttachments = &v.views.back(),
                               .width = static_cast<std::uint32_t>(width),
                               .height = static_cast<std::uint32_t>(height),
                               .layers = 1};
    vk(vkCreateFramebuffer(v.device, &fb, nullptr, &v.framebuffers.emplace_back()),
       "vkCreateFramebuffer");
  }
}

// The command buffer, its semaphores and fence, and the staging and read-back buffers.
void create_commands(ViewerWindow::Vulkan& v, int width, int height) {
  VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                               .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                               .queueFamilyIndex = v.family};
  vk(vkCreateCommandPool(v.device, &pool, nullptr, &v.pool), "vkCreateCommandPool");
  VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = v.pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  vk(vkAllocateCommandBuffers(v.device, &alloc, &v.cmd), "vkAllocateCommandBuffers");
  VkSemaphoreCreateInfo sem{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  vk(vkCreateSemaphore(v.device, &sem, nullptr, &v.acquired), "vkCreateSemaphore");
  vk(vkCreateSemaphore(v.device, &sem, nullptr, &v.drawn), "vkCreateSemaphore");
  VkFenceCreateInfo fence{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  vk(vkCreateFence(v.device, &fence, nullptr, &v.fence), "vkCreateFence");
  const VkDeviceSize bytes = static_cast<VkDeviceSize>(width) * height * 4;
  v.staging.create(v.physical, v.device, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  v.readback.create(v.physical, v.device, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
}

}  // namespace

ViewerWindow::ViewerWindow(int width, int height, const std::string& title, Handlers handlers)
    : width_(width), height_(height), handlers_(std::move(handlers)) {
  if (!glfwInit())
    throw viewer_error(
        "cannot open a window: no display (set DISPLAY, or run under xvfb-run for scripted "
        "captures; `simlab render` needs no display)");
  vk_ = new Vulkan;
  try {
    if (!glfwVulkanSupported())
      throw viewer_error("GLFW finds no Vulkan loader or driver: install mesa-vulkan-drivers");
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_FALSE);
    window_ = glfwCreateWindow(width, height, title.c_str(), nullptr, nullptr);
    if (!window_) throw viewer_error("cannot create the window");
    create_instance(*vk_, window_);
    create_device(*vk_);
    create_swapchain(*vk_, width, height);
    create_render_pass(*vk_, width, height);
    create_commands(*vk_, width, height);
    start_imgui();
  } catch (...) {
    release();
    throw;
  }
  connect_input();
}

// Dear ImGui on the window's device: its font atlas is uploaded once, here.
void ViewerWindow::start_imgui() {
  Vulkan& v = *vk_;
  const VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16}};
  VkDescriptorPoolCreateInfo descriptors{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                         .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT,
                                         .maxSets = 16,
                                         .poolSizeCount = 1,
                                         .pPoolSizes = sizes};
  vk(vkCreateDescriptorPool(v.device, &descriptors, nullptr, &v.descriptors),
     "vkCreateDescriptorPool");
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini next to the user's files
  ImGui::StyleColorsDark();
  imgui_glfw_ = ImGui_ImplGlfw_InitForVulkan(window_, false);
  ImGui_ImplVulkan_InitInfo init{};
  init.Instance = v.instance;
  init.PhysicalDevice = v.physical;
  init.Device = v.device;
  init.QueueFamily = v.family;
  init.Queue = v.queue;
  init.DescriptorPool = v.descriptors;
  init.MinImageCount = std::max(2u, static_cast<std::uint32_t>(v.images.size()));
  init.ImageCount = static_cast<std::uint32_t>(v.images.size());
  init.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  imgui_vulkan_ = ImGui_ImplVulkan_Init(&init, v.render_pass);
  if (!imgui_glfw_ || !imgui_vulkan_) throw viewer_error("cannot start Dear ImGui");
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  vkBeginCommandBuffer(v.cmd, &begin);
  ImGui_ImplVulkan_CreateFontsTexture(v.cmd);
  vkEndCommandBuffer(v.cmd);
  v.submit_and_wait(VkSubmitInfo{
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &v.cmd});
  ImGui_ImplVulkan_DestroyFontUploadObjects();
}

// Input goes to ImGui first; the app gets what the UI does not take.
void ViewerWindow::connect_input() {
  glfwSetWindowUserPointer(window_, this);
  glfwSetKeyCallback(window_, [](GLFWwindow* w, int key, int scancode, int action, int mods) {
    ImGui_ImplGlfw_KeyCallback(w, key, scancode, action, mods);
    auto* self = static_cast<ViewerWindow*>(glfwGetWindowUserPointer(w));
    if (action == GLFW_PRESS && !ImGui::GetIO().WantCaptureKeyboard && self->handlers_.key)
      self->handlers_.key(key);
  });
  glfwSetCharCallback(window_, ImGui_ImplGlfw_CharCallback);
  glfwSetScrollCallback(window_, [](GLFWwindow* w, double dx, double dy) {
    ImGui_ImplGlfw_ScrollCallback(w, dx, dy);
    auto* self = static_cast<ViewerWindow*>(glfwGetWindowUserPointer(w));
    if (!ImGui::GetIO().WantCaptureMouse && self->handlers_.scroll) self->handlers_.scroll(dy);
  });
  glfwSetMouseButtonCallback(window_, [](GLFWwindow* w, int button, int action, int mods) {
    ImGui_ImplGlfw_MouseButtonCallback(w, button, action, mods);
    auto* self = static_cast<ViewerWindow*>(glfwGetWindowUserPointer(w));
    if (ImGui::GetIO().WantCaptureMouse || !self->handlers_.button) return;
    double x, y;
    glfwGetCursorPos(w, &x, &y);
    self->handlers_.button(button, action == GLFW_PRESS, x, y);
  });
}

ViewerWindow::~ViewerWindow() {
  release();
}

void ViewerWindow::release() {
  if (vk_) {
    Vulkan& v = *vk_;
    if (v.device) vkDeviceWaitIdle(v.device);
    if (imgui_vulkan_) ImGui_ImplVulkan_Shutdown();
    if (imgui_glfw_) ImGui_ImplGlfw_Shutdown();
    if (ImGui::GetCurrentContext()) ImGui::DestroyContext();
    imgui_vulkan_ = imgui_glfw_ = false;
    if (v.device) {
      v.staging.destroy(v.device);
      v.readback.destroy(v.device);
      if (v.descriptors) vkDestroyDescriptorPool(v.device, v.descriptors, nullptr);
      for (VkFramebuffer fb : v.framebuffers)
        vkDestroyFramebuffer(v.device, fb, nullptr);
      for (VkImageView view : v.views)
        vkDestroyImageView(v.device, view, nullptr);
      if (v.render_pass) vkDestroyRenderPass(v.device, v.render_pass, nullptr);
      if (v.fence) vkDestroyFence(v.device, v.fence, nullptr);
      if (v.acquired) vkDestroySemaphore(v.device, v.acquired, nullptr);
      if (v.drawn) vkDestroySemaphore(v.device, v.drawn, nullptr);
      if (v.pool) vkDestroyCommandPool(v.device, v.pool, nullptr);
      if (v.swapchain) vkDestroySwapchainKHR(v.device, v.swapchain, nullptr);
      vkDestroyDevice(v.device, nullptr);
    }
    if (v.surface) vkDestroySurfaceKHR(v.instance, v.surface, nullptr);
    if (v.instance) vkDestroyInstance(v.instance, nullptr);
    delete vk_;
    vk_ = nullptr;
  }
  if (window_) glfwDestroyWindow(window_);
  window_ = nullptr;
  if (!released_) glfwTerminate();
  released_ = true;
}

void ViewerWindow::begin_ui() {
  ImGui_ImplVulkan_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
}

void ViewerWindow::present(const std::uint8_t* rgb, int w, int h,
                           std::vector<std::uint8_t>* capture) {
  Vulkan& v = *vk_;
  ImGui::Render();
  // The host image, with the panel's background where it does not reach.
  auto* out = static_cast<std::uint8_t*>(v.staging.mapped);
  const int r = v.bgra ? 2 : 0, b = v.bgra ? 0 : 2;
  for (int y = 0; y < height_; ++y)
    for (int x = 0; x < width_; ++x) {
      std::uint8_t* p = out + (static_cast<std::size_t>(y) * width_ + x) * 4;
      if (x < w && y < h) {
        const std::uint8_t* s = rgb + (static_cast<std::size_t>(y) * w + x) * 3;
        p[r] = s[0], p[1] = s[1], p[b] = s[2];
      } else {
        p[0] = p[1] = p[2] = 30;
      }
      p[3] = 255;
    }

  std::uint32_t index = 0;
  vk(vkAcquireNextImageKHR(v.device, v.swapchain, UINT64_MAX, v.acquired, VK_NULL_HANDLE, &index),
     "vkAcquireNextImageKHR");
  VkImage image = v.images[index];
  vkResetCommandBuffer(v.cmd, 0);
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  vkBeginCommandBuffer(v.cmd, &begin);
  auto barrier = [&](VkImageLayout from, VkImageLayout to, VkAccessFlags src, VkAccessFlags dst,
                     VkPipelineStageFlags src_stage, VkPipelineStageFlags dst_stage) {
    VkImageMemoryBarrier bar{.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                             .srcAccessMask = src,
                             .dstAccessMask = dst,
                             .oldLayout = from,
                             .newLayout = to,
                             .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                             .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                             .image = image,
                             .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    vkCmdPipelineBarrier(v.cmd, src_stage, dst_stage, 0, 0, nullptr, 0, nullptr, 1, &bar);
  };
  barrier(VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
          VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_PIPELINE_STAGE_TRANSFER_BIT);
  const VkExtent3D extent{static_cast<std::uint32_t>(width_), static_cast<std::uint32_t>(height_),
                          1};
  VkBufferImageCopy copy{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                         .imageExtent = extent};
  vkCmdCopyBufferToImage(v.cmd, v.staging.buffer, image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1,
                         &copy);
  VkRenderPassBeginInfo pass{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                             .renderPass = v.render_pass,
                             .framebuffer = v.framebuffers[index],
                             .renderArea = {{0, 0}, {extent.width, extent.height}}};
  vkCmdBeginRenderPass(v.cmd, &pass, VK_SUBPASS_CONTENTS_INLINE);
  ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), v.cmd);
  vkCmdEndRenderPass(v.cmd);
  if (capture)
    vkCmdCopyImageToBuffer(v.cmd, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, v.readback.buffer, 1,
                           &copy);
  barrier(VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
          VK_ACCESS_TRANSFER_READ_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT);
  vkEndCommandBuffer(v.cmd);
  const VkPipelineStageFlags wait = VK_PIPELINE_STAGE_TRANSFER_BIT;
  v.submit_and_wait(VkSubmitInfo{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                                 .waitSemaphoreCount = 1,
                                 .pWaitSemaphores = &v.acquired,
                                 .pWaitDstStageMask = &wait,
                                 .commandBufferCount = 1,
                                 .pCommandBuffers = &v.cmd,
                                 .signalSemaphoreCount = 1,
                                 .pSignalSemaphores = &v.drawn});
  VkPresentInfoKHR present{.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                           .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &v.drawn,
                           .swapchainCount = 1,
                           .pSwapchains = &v.swapchain,
                           .pImageIndices = &index};
  vkQueuePresentKHR(v.queue, &present);

  if (capture) {  // the fence has passed: the read-back is complete
    capture->resize(static_cast<std::size_t>(width_) * height_ * 3);
    const auto* in = static_cast<const std::uint8_t*>(v.readback.mapped);
    for (std::size_t i = 0; i < static_cast<std::size_t>(width_) * height_; ++i) {
      (*capture)[3 * i + 0] = in[4 * i + r];
      (*capture)[3 * i + 1] = in[4 * i + 1];
      (*capture)[3 * i + 2] = in[4 * i + b];
    }
  }
}

}  // namespace simlab::tools
