#include "engine/render/pipeline.h"

#include <array>

#include "engine/render/mesh.h"
#include "engine/render/shaders/geom_frag.h"
#include "engine/render/shaders/geom_vert.h"

namespace simlab::engine::render {
namespace {

VkShaderModule shader(VkDevice device, const std::uint32_t* code, std::size_t bytes) {
  VkShaderModuleCreateInfo info{
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes, .pCode = code};
  VkShaderModule module;
  check(vkCreateShaderModule(device, &info, nullptr, &module), "vkCreateShaderModule");
  return module;
}

}  // namespace

GeomPipeline::GeomPipeline(const Context& context) : device_(context.device()) {
  // Render pass: cleared at the start, kept for the copy to host memory at the end.
  std::array<VkAttachmentDescription, 4> attachments{};
  const std::array<VkFormat, 4> formats = {kColorFormat, kDepthOutFormat, kSegFormat, kDepthFormat};
  for (std::size_t i = 0; i < 4; ++i) {
    attachments[i] = {
        .format = formats[i],
        .samples = VK_SAMPLE_COUNT_1_BIT,
        .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
        .storeOp = i < 3 ? VK_ATTACHMENT_STORE_OP_STORE : VK_ATTACHMENT_STORE_OP_DONT_CARE,
        .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
        .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
        .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
        .finalLayout = i < 3 ? VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL
                             : VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL};
  }
  std::array<VkAttachmentReference, 3> colors = {
      VkAttachmentReference{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL},
      VkAttachmentReference{1, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL},
      VkAttachmentReference{2, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL}};
  VkAttachmentReference depth{3, VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL};
  VkSubpassDescription subpass{.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                               .colorAttachmentCount = 3,
                               .pColorAttachments = colors.data(),
                               .pDepthStencilAttachment = &depth};
  // The copy after the pass must see every colour write.
  VkSubpassDependency after{.srcSubpass = 0,
                            .dstSubpass = VK_SUBPASS_EXTERNAL,
                            .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                            .dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT,
                            .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                            .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT};
  VkRenderPassCreateInfo pass{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                              .attachmentCount = 4,
                              .pAttachments = attachments.data(),
                              .subpassCount = 1,
                              .pSubpasses = &subpass,
                              .dependencyCount = 1,
                              .pDependencies = &after};
  check(vkCreateRenderPass(device_, &pass, nullptr, &pass_), "vkCreateRenderPass");

  // Storage buffers: per-draw instance records, per-env lights, the texture table, the texels.
  std::array<VkDescriptorSetLayoutBinding, kGeomBindings> bindings{};
  for (std::uint32_t b = 0; b < kGeomBindings; ++b)
    bindings[b] = {.binding = b,
                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                   .descriptorCount = 1,
                   .stageFlags = static_cast<VkShaderStageFlags>(
                       b == 0 ? VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT
                              : VK_SHADER_STAGE_FRAGMENT_BIT)};
  VkDescriptorSetLayoutCreateInfo set{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                      .bindingCount = kGeomBindings,
                                      .pBindings = bindings.data()};
  check(vkCreateDescriptorSetLayout(device_, &set, nullptr, &set_layout_),
        "vkCreateDescriptorSetLayout");
  VkPipelineLayoutCreateInfo layout{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                    .setLayoutCount = 1,
                                    .pSetLayouts = &set_layout_};
  check(vkCreatePipelineLayout(device_, &layout, nullptr, &layout_), "vkCreatePipelineLayout");

  VkShaderModule vert = shader(device_, kGeomVert, sizeof(kGeomVert));
  VkShaderModule frag = shader(device_, kGeomFrag, sizeof(kGeomFrag));
  std::array<VkPipelineShaderStageCreateInfo, 2> stages = {
      VkPipelineShaderStageCreateInfo{.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                      .stage = VK_SHADER_STAGE_VERTEX_BIT,
                                      .module = vert,
                                      .pName = "main"},
      VkPipelineShaderStageCreateInfo{.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                      .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
                                      .module = frag,
                                      .pName = "main"}};
  VkVertexInputBindingDescription vertex{0, sizeof(Vertex), VK_VERTEX_INPUT_RATE_VERTEX};
  std::array<VkVertexInputAttributeDescription, 2> attributes = {
      VkVertexInputAttributeDescription{0, 0, VK_FORMAT_R32G32B32_SFLOAT, offsetof(Vertex, pos)},
      VkVertexInputAttributeDescription{1, 0, VK_FORMAT_R32G32B32_SFLOAT,
                                        offsetof(Vertex, normal)}};
  VkPipelineVertexInputStateCreateInfo input{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
      .vertexBindingDescriptionCount = 1,
      .pVertexBindingDescriptions = &vertex,
      .vertexAttributeDescriptionCount = 2,
      .pVertexAttributeDescriptions = attributes.data()};
  VkPipelineInputAssemblyStateCreateInfo assembly{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
      .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
  VkPipelineViewportStateCreateInfo viewport{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
      .viewportCount = 1,
      .scissorCount = 1};
  // No culling: planes and heightfields are seen from both sides, and the depth test decides.
  VkPipelineRasterizationStateCreateInfo raster{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
      .polygonMode = VK_POLYGON_MODE_FILL,
      .cullMode = VK_CULL_MODE_NONE,
      .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE,
      .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo multisample{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
      .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
  VkPipelineDepthStencilStateCreateInfo depth_test{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO,
      .depthTestEnable = VK_TRUE,
      .depthWriteEnable = VK_TRUE,
      .depthCompareOp = VK_COMPARE_OP_GREATER};  // reversed depth (see batch_renderer.cpp)
  std::array<VkPipelineColorBlendAttachmentState, 3> blend{};
  for (auto& b : blend)
    b.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                       VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
  VkPipelineColorBlendStateCreateInfo blending{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
      .attachmentCount = 3,
      .pAttachments = blend.data()};
  const std::array<VkDynamicState, 2> dynamic = {VK_DYNAMIC_STATE_VIEWPORT,
                                                 VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dynamic_state{
      .sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
      .dynamicStateCount = 2,
      .pDynamicStates = dynamic.data()};
  VkGraphicsPipelineCreateInfo info{.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO,
                                    .stageCount = 2,
                                    .pStages = stages.data(),
                                    .pVertexInputState = &input,
                                    .pInputAssemblyState = &assembly,
                                    .pViewportState = &viewport,
                                    .pRasterizationState = &raster,
                                    .pMultisampleState = &multisample,
                                    .pDepthStencilState = &depth_test,
                                    .pColorBlendState = &blending,
                                    .pDynamicState = &dynamic_state,
                                    .layout = layout_,
                                    .renderPass = pass_,
                                    .subpass = 0};
  const VkResult made =
      vkCreateGraphicsPipelines(device_, VK_NULL_HANDLE, 1, &info, nullptr, &pipeline_);
  vkDestroyShaderModule(device_, vert, nullptr);
  vkDestroyShaderModule(device_, frag, nullptr);
  check(made, "vkCreateGraphicsPipelines");
}

GeomPipeline::~GeomPipeline() {
  vkDestroyPipeline(device_, pipeline_, nullptr);
  vkDestroyPipelineLayout(device_, layout_, nullptr);
  vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
  vkDestroyRenderPass(device_, pass_, nullptr);
}

}  // namespace simlab::engine::render
