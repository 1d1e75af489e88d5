// The geometry pipeline: one render pass with three colour targets (RGBA8 colour, R32F depth in
// metres, R32I segmentation) and a depth buffer, and the graphics pipeline that fills them from the
// embedded SPIR-V shaders (shaders/geom.vert, geom.frag, compiled by glslc at build time).
#pragma once

#include <vulkan/vulkan.h>

#include "engine/render/context.h"

namespace simlab::engine::render {

constexpr VkFormat kColorFormat = VK_FORMAT_R8G8B8A8_UNORM;
constexpr VkFormat kDepthOutFormat = VK_FORMAT_R32_SFLOAT;
constexpr VkFormat kSegFormat = VK_FORMAT_R32_SINT;
constexpr VkFormat kDepthFormat = VK_FORMAT_D32_SFLOAT;
// The descriptor set's storage buffers, as geom.vert/geom.frag bind them: 0 instance records,
// 1 per-env lights, 2 the texture table, 3 the texels.
constexpr std::uint32_t kGeomBindings = 4;

class GeomPipeline {
 public:
  explicit GeomPipeline(const Context& context);
  ~GeomPipeline();
  GeomPipeline(const GeomPipeline&) = delete;
  GeomPipeline& operator=(const GeomPipeline&) = delete;

  VkRenderPass render_pass() const { return pass_; }
  VkPipeline pipeline() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

 private:
  VkDevice device_;
  VkRenderPass pass_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
};

}  // namespace simlab::engine::render
