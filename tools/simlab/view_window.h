// The viewer's window: GLFW, a Vulkan swapchain on a presentation-only device, and Dear ImGui.
//
//   host image [h, w, 3] --staging buffer--> swapchain image (copy) --render pass (load)--> ImGui
//   drawn on top --> optional read-back of exactly what is shown (screenshots) --> present
//
// The batch renderer keeps its own headless device; this window only shows what it produced, so
// the viewer adds nothing to the rendering path that learners and datasets use.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct GLFWwindow;

namespace simlab::tools {

class ViewerWindow {
 public:
  // What the app does with input the UI does not take (keys while no text field is active, mouse
  // outside the panel). Window coordinates in pixels.
  struct Handlers {
    std::function<void(int key)> key;  // GLFW_KEY_*, on press
    std::function<void(double dy)> scroll;
    std::function<void(int button, bool pressed, double x, double y)> button;
  };

  // Throws simlab::Error with a clear message when there is no display or no Vulkan driver.
  ViewerWindow(int width, int height, const std::string& title, Handlers handlers);
  ~ViewerWindow();
  ViewerWindow(const ViewerWindow&) = delete;
  ViewerWindow& operator=(const ViewerWindow&) = delete;

  GLFWwindow* glfw() const { return window_; }
  int width() const { return width_; }
  int height() const { return height_; }

  // Start a frame of UI: ImGui:: calls are valid until present().
  void begin_ui();
  // Show an [h, w, 3] RGB image at the window's top-left corner (the rest is the panel's
  // background), with this frame's UI over it. With `capture`, the image the window shows is read
  // back into it as [height, width, 3] RGB.
  void present(const std::uint8_t* rgb, int w, int h, std::vector<std::uint8_t>* capture = nullptr);

 public:
  struct Vulkan;  // the window's Vulkan objects (view_window.cpp)

 private:
  void start_imgui();
  void connect_input();
  void release();  // everything, in reverse order; safe on a half-made window
  bool released_ = false;
  int width_, height_;
  Handlers handlers_;
  GLFWwindow* window_ = nullptr;
  Vulkan* vk_ = nullptr;
  bool imgui_glfw_ = false, imgui_vulkan_ = false;
};

}  // namespace simlab::tools
