#include "engine/render/batch_renderer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "engine/core/error.h"
#include "engine/render/context.h"
#include "engine/render/mesh.h"
#include "engine/render/pipeline.h"

namespace simlab::engine::render {
namespace {

using Mat4 = std::array<float, 16>;  // column-major, as GLSL reads it

Mat4 multiply(const Mat4& a, const Mat4& b) {
  Mat4 out{};
  for (int c = 0; c < 4; ++c)
    for (int r = 0; r < 4; ++r) {
      float s = 0;
      for (int k = 0; k < 4; ++k)
        s += a[k * 4 + r] * b[c * 4 + k];
      out[c * 4 + r] = s;
    }
  return out;
}

// World from geom: pose = position (3) + rotation row-major (9).
Mat4 model_matrix(const float* pose) {
  Mat4 m{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c)
      m[c * 4 + r] = pose[3 + 3 * r + c];
    m[12 + r] = pose[r];
  }
  m[15] = 1;
  return m;
}

// View from world: the camera's axes are the columns of its rotation.
Mat4 view_matrix(const Camera& cam) {
  Mat4 v{};
  for (int k = 0; k < 3; ++k) {  // row k of the view = camera axis k
    float dot = 0;
    for (int j = 0; j < 3; ++j) {
      v[j * 4 + k] = cam.mat[3 * j + k];
      dot += cam.mat[3 * j + k] * cam.pos[j];
    }
    v[12 + k] = -dot;
  }
  v[15] = 1;
  return v;
}

// Vulkan clip space: y down; w = distance along the camera's viewing axis. Depth is reversed
// (near 1, far 0): with a float depth buffer that keeps about the same relative precision at every
// distance, so terrain a millimetre above a floor does not flicker through it 15 m away.
Mat4 projection(float fovy_deg, float aspect, float zn, float zf) {
  const float f = 1.0f / std::tan(fovy_deg * 3.14159265f / 360.0f);
  Mat4 p{};
  p[0] = f / aspect;
  p[5] = -f;
  p[10] = zn / (zf - zn);
  p[11] = -1;
  p[14] = zn * zf / (zf - zn);
  return p;
}

Mesh geom_mesh(const physics::VisualModel& v, const physics::VisualGeom& g) {
  using physics::GeomShape;
  switch (g.shape) {
    case GeomShape::kPlane:
      return make_plane(g.size[0], g.size[1]);
    case GeomShape::kSphere:
      return make_sphere(g.size[0]);
    case GeomShape::kCapsule:
      return make_capsule(g.size[0], g.size[1]);
    case GeomShape::kEllipsoid:
      return make_ellipsoid(g.size[0], g.size[1], g.size[2]);
    case GeomShape::kCylinder:
      return make_cylinder(g.size[0], g.size[1]);
    case GeomShape::kBox:
      return make_box(g.size[0], g.size[1], g.size[2]);
    case GeomShape::kMesh: {
      const auto& m = v.meshes.at(static_cast<std::size_t>(g.data));
      return make_triangle_mesh(m.vertices.data(), static_cast<int>(m.vertices.size() / 3),
                                m.faces.data(), static_cast<int>(m.faces.size() / 3));
    }
    case GeomShape::kHeightField: {
      const auto& h = v.heightfields.at(static_cast<std::size_t>(g.data));
      return make_heightfield(h.nrow, h.ncol, h.elevation.data(), h.size[0], h.size[1], h.size[2],
                              h.size[3]);
    }
  }
  return {};
}

struct DrawRange {
  std::uint32_t first_index = 0, index_count = 0;
  std::int32_t vertex_offset = 0;
};

// One per-draw record, as geom.vert and geom.frag read it (std430).
struct Instance {
  Mat4 mvp;
  Mat4 model;
  float color[4];
  std::int32_t ids[4];  // geom (segmentation id), texture (-1: none), the env's light slot
  float tex[4];         // 2D repetitions, texuniform
  float size[4];        // the geom's size
};
static_assert(sizeof(Instance) == 192);

// An env's lights, as geom.frag reads them (std430); the shader draws the first kMaxLights.
constexpr int kMaxLights = 4;
struct EnvLights {
  float pos[kMaxLights][4];  // w: 1 directional
  float dir[kMaxLights][4];
  float diffuse[kMaxLights][4];
  std::int32_t count[4];
};
static_assert(sizeof(EnvLights) == 208);

struct TextureEntry {
  std::int32_t offset, width, height, cube;
};

constexpr int kMaxAtlas = 4096;  // atlas side in pixels: well within every device's limit

}  // namespace

Camera look_at(const float eye[3], const float target[3], float fovy_deg) {
  float forward[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
  auto normalize = [](float* v) {
    const float n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int k = 0; k < 3; ++k)
      v[k] /= n > 0 ? n : 1;
  };
  auto cross = [](const float* a, const float* b, float* out) {
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
  };
  normalize(forward);
  float up_world[3] = {0, 0, 1};
  if (std::abs(forward[2]) > 0.999f) up_world[1] = 1, up_world[2] = 0;  // looking straight down
  float right[3], up[3];
  cross(forward, up_world, right);
  normalize(right);
  cross(right, forward, up);
  Camera cam;
  cam.fovy_deg = fovy_deg;
  for (int k = 0; k < 3; ++k) {
    cam.pos[k] = eye[k];
    cam.mat[3 * k + 0] = right[k];
    cam.mat[3 * k + 1] = up[k];
    cam.mat[3 * k + 2] = -forward[k];
  }
  return cam;
}

Camera default_camera(const physics::VisualModel& v) {
  const float d = 1.6f * std::max(v.extent, 0.1f);
  const float eye[3] = {v.center[0] + 0.55f * d, v.center[1] - 0.8f * d, v.center[2] + 0.45f * d};
  return look_at(eye, v.center, 45);
}

struct BatchRenderer::Impl {
  Context context;
  GeomPipeline pipeline{context};
  std::vector<std::shared_ptr<const physics::Model>> models;
  std::vector<std::vector<DrawRange>> ranges;  // [model][geom]
  std::vector<std::vector<int>> texture_ids;   // [model][texture]: into the texture table
  Buffer vertices, indices, instances, lights, texture_table, texels;
  std::array<Image, 4> targets;  // colour, depth out, segmentation, depth buffer
  std::array<Buffer, 3> readback;
  VkFramebuffer framebuffer = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
  VkDescriptorSet descriptor_set = VK_NULL_HANDLE;
  int atlas_w = 0, atlas_h = 0;

  ~Impl() {
    vkDeviceWaitIdle(context.device());
    if (framebuffer) vkDestroyFramebuffer(context.device(), framebuffer, nullptr);
    if (descriptor_pool) vkDestroyDescriptorPool(context.device(), descriptor_pool, nullptr);
  }

  void upload_geometry() {
    Mesh all;
    for (const auto& model : models) {
      const auto& v = model->visual();
      auto& r = ranges.emplace_back(v.geoms.size());
      for (std::size_t g = 0; g < v.geoms.size(); ++g) {
        if (v.geoms[g].group > 2) continue;  // MuJoCo hides groups 3-5 by default
        const Mesh mesh = geom_mesh(v, v.geoms[g]);
        r[g] = {static_cast<std::uint32_t>(all.indices.size()),
                static_cast<std::uint32_t>(mesh.indices.size()),
                static_cast<std::int32_t>(all.vertices.size())};
        all.vertices.insert(all.vertices.end(), mesh.vertices.begin(), mesh.vertices.end());
        all.indices.insert(all.indices.end(), mesh.indices.begin(), mesh.indices.end());
      }
    }
    upload_textures();
    all.vertices.resize(std::max<std::size_t>(all.vertices.size(), 1));
    all.indices.resize(std::max<std::size_t>(all.indices.size(), 3));
    vertices = upload(all.vertices.data(), all.vertices.size() * sizeof(Vertex),
                      VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
    indices = upload(all.indices.data(), all.indices.size() * sizeof(std::uint32_t),
                     VK_BUFFER_USAGE_INDEX_BUFFER_BIT);
  }

  // A buffer of static data the device only reads: host-visible on CPU devices (no copy is
  // cheaper), device-local behind one staging copy on GPUs, whose shaders read it at full speed.
  bool host_static = true;  // RenderConfig::static_memory, resolved for this device

  Buffer upload(const void* data, std::size_t bytes, VkBufferUsageFlags usage) {
    if (host_static) {
      Buffer b(context, bytes, usage, true);
      std::memcpy(b.mapped, data, bytes);
      return b;
    }
    Buffer staging(context, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, true);
    std::memcpy(staging.mapped, data, bytes);
    Buffer b(context, bytes, usage | VK_BUFFER_USAGE_TRANSFER_DST_BIT, false);
    context.run([&](VkCommandBuffer cmd) {
      const VkBufferCopy region{0, 0, bytes};
      vkCmdCopyBuffer(cmd, staging.buffer, b.buffer, 1, &region);
    });
    return b;
  }

  // Every model's textures in one table and one texel buffer (RGBA8); structural variants that
  // share a texture (the same texels) share its storage.
  void upload_textures() {
    std::vector<TextureEntry> table;
    std::vector<std::uint32_t> all;
    // Keyed by the texels' bytes (a string: GCC 12 warns falsely on comparing vectors of bytes).
    std::unordered_map<std::string, int> seen;
    for (const auto& model : models) {
      auto& ids = texture_ids.emplace_back();
      for (const auto& t : model->visual().textures) {
        auto [it, added] = seen.try_emplace(std::string(t.rgb.begin(), t.rgb.end()),
                                            static_cast<int>(table.size()));
        ids.push_back(it->second);
        if (!added) continue;
        table.push_back({static_cast<std::int32_t>(all.size()), t.width, t.height, t.cube ? 1 : 0});
        for (std::size_t i = 0; i + 2 < t.rgb.size(); i += 3)
          all.push_back(t.rgb[i] | t.rgb[i + 1] << 8 | t.rgb[i + 2] << 16 | 0xFFu << 24);
      }
    }
    table.resize(std::max<std::size_t>(table.size(), 1));
    all.resize(std::max<std::size_t>(all.size(), 1));
    texture_table = upload(table.data(), table.size() * sizeof(TextureEntry),
                           VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
    texels =
        upload(all.data(), all.size() * sizeof(std::uint32_t), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
  }

  // Room for `count` instance records and `envs` light slots; the descriptor set follows.
  void ensure_buffers(std::size_t count, std::size_t envs) {
    const VkDeviceSize bytes = std::max<std::size_t>(count, 1) * sizeof(Instance);
    const VkDeviceSize light_bytes = std::max<std::size_t>(envs, 1) * sizeof(EnvLights);
    if (instances.size >= bytes && lights.size >= light_bytes) return;
    if (instances.size < bytes)
      instances = Buffer(context, bytes * 2, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, true);
    if (lights.size < light_bytes)
      lights = Buffer(context, light_bytes * 2, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, true);
    if (!descriptor_pool) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kGeomBindings};
      VkDescriptorPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = 1,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &size};
      check(vkCreateDescriptorPool(context.device(), &pool, nullptr, &descriptor_pool),
            "vkCreateDescriptorPool");
      VkDescriptorSetLayout layout = pipeline.set_layout();
      VkDescriptorSetAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                        .descriptorPool = descriptor_pool,
                                        .descriptorSetCount = 1,
                                        .pSetLayouts = &layout};
      check(vkAllocateDescriptorSets(context.device(), &alloc, &descriptor_set),
            "vkAllocateDescriptorSets");
    }
    const std::array<const Buffer*, kGeomBindings> buffers = {&instances, &lights, &texture_table,
                                                              &texels};
    std::array<VkDescriptorBufferInfo, kGeomBindings> infos;
    std::array<VkWriteDescriptorSet, kGeomBindings> writes;
    for (std::uint32_t b = 0; b < kGeomBindings; ++b) {
      infos[b] = {buffers[b]->buffer, 0, VK_WHOLE_SIZE};
      writes[b] = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                   .dstSet = descriptor_set,
                   .dstBinding = b,
                   .descriptorCount = 1,
                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                   .pBufferInfo = &infos[b]};
    }
    vkUpdateDescriptorSets(context.device(), kGeomBindings, writes.data(), 0, nullptr);
  }

  void ensure_targets(int w, int h) {
    if (w == atlas_w && h == atlas_h) return;
    vkDeviceWaitIdle(context.device());
    if (framebuffer) vkDestroyFramebuffer(context.device(), framebuffer, nullptr);
    const auto uw = static_cast<std::uint32_t>(w), uh = static_cast<std::uint32_t>(h);
    const VkImageUsageFlags color =
        VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    targets[0] = Image(context, uw, uh, kColorFormat, color, VK_IMAGE_ASPECT_COLOR_BIT);
    targets[1] = Image(context, uw, uh, kDepthOutFormat, color, VK_IMAGE_ASPECT_COLOR_BIT);
    targets[2] = Image(context, uw, uh, kSegFormat, color, VK_IMAGE_ASPECT_COLOR_BIT);
    targets[3] = Image(context, uw, uh, kDepthFormat, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT,
                       VK_IMAGE_ASPECT_DEPTH_BIT);
    const VkDeviceSize pixels = static_cast<VkDeviceSize>(w) * h;
    for (auto& b : readback)
      b = Buffer(context, pixels * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT, true);
    std::array<VkImageView, 4> views = {targets[0].view, targets[1].view, targets[2].view,
                                        targets[3].view};
    VkFramebufferCreateInfo info{.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                 .renderPass = pipeline.render_pass(),
                                 .attachmentCount = 4,
                                 .pAttachments = views.data(),
                                 .width = uw,
                                 .height = uh,
                                 .layers = 1};
    check(vkCreateFramebuffer(context.device(), &info, nullptr, &framebuffer),
          "vkCreateFramebuffer");
    atlas_w = w;
    atlas_h = h;
  }
};

BatchRenderer::BatchRenderer(std::vector<std::shared_ptr<const physics::Model>> models,
                             RenderConfig config)
    : impl_(std::make_unique<Impl>()), config_(config) {
  if (config_.width < 1 || config_.height < 1 || config_.width > kMaxAtlas ||
      config_.height > kMaxAtlas)
    throw Error(SourceLocation{.field = "resolution"},
                "expected 1 to " + std::to_string(kMaxAtlas) + " pixels per side, got " +
                    std::to_string(config_.width) + "x" + std::to_string(config_.height));
  impl_->models = std::move(models);
  using Memory = RenderConfig::StaticMemory;
  impl_->host_static = config_.static_memory == Memory::kHost ||
                       (config_.static_memory == Memory::kAuto && impl_->context.is_cpu());
  impl_->upload_geometry();
}

BatchRenderer::~BatchRenderer() = default;

const std::string& BatchRenderer::device_name() const {
  return impl_->context.device_name();
}
bool BatchRenderer::on_cpu() const {
  return impl_->context.is_cpu();
}

std::size_t BatchRenderer::device_bytes() const {
  std::size_t n = impl_->vertices.size + impl_->indices.size + impl_->instances.size +
                  impl_->lights.size + impl_->texture_table.size + impl_->texels.size;
  for (const auto& b : impl_->readback)
    n += b.size;
  n += static_cast<std::size_t>(impl_->atlas_w) * impl_->atlas_h * 16;  // the four targets
  return n;
}

void BatchRenderer::render(std::span<const physics::World* const> worlds,
                           std::span<const int> variants, std::span<const Camera> cameras) {
  SIMLAB_CHECK(worlds.size() == variants.size() && worlds.size() == cameras.size())
      << "render: one variant and one camera per world";
  Impl& s = *impl_;
  const int n = static_cast<int>(worlds.size());
  const int w = config_.width, h = config_.height;
  count_ = n;
  rgb_.resize(static_cast<std::size_t>(n) * w * h * 3);
  depth_.resize(static_cast<std::size_t>(n) * w * h);
  seg_.resize(static_cast<std::size_t>(n) * w * h);
  if (n == 0) return;

  // Envs are drawn in chunks that fit one atlas of tiles.
  const int cols_max = kMaxAtlas / w, rows_max = kMaxAtlas / h;
  const int chunk = cols_max * rows_max;
  std::vector<float> poses, colors, light_data;
  for (int start = 0; start < n; start += chunk) {
    const int m = std::min(chunk, n - start);
    const int cols = std::min(cols_max, static_cast<int>(std::ceil(std::sqrt(m))));
    const int rows = (m + cols - 1) / cols;
    s.ensure_targets(cols * w, rows * h);

    // Instance records: one per drawn geom of every env in the chunk.
    std::size_t draws = 0;
    for (int i = 0; i < m; ++i)
      draws += s.models.at(static_cast<std::size_t>(variants[start + i]))->visual().geoms.size();
    s.ensure_buffers(draws, static_cast<std::size_t>(m));
    auto* records = static_cast<Instance*>(s.instances.mapped);
    auto* env_lights = static_cast<EnvLights*>(s.lights.mapped);

    s.context.run([&](VkCommandBuffer cmd) {
      std::array<VkClearValue, 4> clear{};
      clear[0].color = {{config_.background[0], config_.background[1], config_.background[2], 1}};
      clear[1].color.float32[0] = config_.zfar;
      clear[2].color.int32[0] = -1;
      clear[3].depthStencil = {0.0f, 0};  // reversed depth: 0 is the far plane
      VkRenderPassBeginInfo begin{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                                  .renderPass = s.pipeline.render_pass(),
                                  .framebuffer = s.framebuffer,
                                  .renderArea = {{0, 0},
                                                 {static_cast<std::uint32_t>(s.atlas_w),
                                                  static_cast<std::uint32_t>(s.atlas_h)}},
                                  .clearValueCount = 4,
                                  .pClearValues = clear.data()};
      vkCmdBeginRenderPass(cmd, &begin, VK_SUBPASS_CONTENTS_INLINE);
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, s.pipeline.pipeline());
      vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, s.pipeline.layout(), 0, 1,
                              &s.descriptor_set, 0, nullptr);
      VkDeviceSize offset = 0;
      vkCmdBindVertexBuffers(cmd, 0, 1, &s.vertices.buffer, &offset);
      vkCmdBindIndexBuffer(cmd, s.indices.buffer, 0, VK_INDEX_TYPE_UINT32);
      std::uint32_t record = 0;
      for (int i = 0; i < m; ++i) {
        const physics::World& world = *worlds[start + i];
        const int variant = variants[start + i];
        const auto& ranges = s.ranges.at(static_cast<std::size_t>(variant));
        const std::size_t ngeom = ranges.size();
        poses.resize(ngeom * 12);
        colors.resize(ngeom * 4);
        world.geom_poses(poses);
        world.geom_colors(colors);
        const auto& visual = s.models[static_cast<std::size_t>(variant)]->visual();
        const auto& texture_ids = s.texture_ids[static_cast<std::size_t>(variant)];
        EnvLights& el = env_lights[i];
        el = EnvLights{};
        light_data.resize(static_cast<std::size_t>(visual.lights) * 10);
        world.lights(light_data);
        el.count[0] = std::min(visual.lights, kMaxLights);
        for (int l = 0; l < el.count[0]; ++l) {
          const float* src = &light_data[10 * static_cast<std::size_t>(l)];
          for (int k = 0; k < 3; ++k)
            el.pos[l][k] = src[k], el.dir[l][k] = src[3 + k], el.diffuse[l][k] = src[6 + k];
          el.pos[l][3] = src[9];
        }
        const Camera& cam = cameras[start + i];
        const Mat4 view_proj = multiply(
            projection(cam.fovy_deg, static_cast<float>(w) / h, config_.znear, config_.zfar),
            view_matrix(cam));
        const float x = static_cast<float>((i % cols) * w), y = static_cast<float>((i / cols) * h);
        VkViewport viewport{x, y, static_cast<float>(w), static_cast<float>(h), 0.0f, 1.0f};
        VkRect2D scissor{{static_cast<std::int32_t>(x), static_cast<std::int32_t>(y)},
                         {static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(h)}};
        vkCmdSetViewport(cmd, 0, 1, &viewport);
        vkCmdSetScissor(cmd, 0, 1, &scissor);
        for (std::size_t g = 0; g < ngeom; ++g) {
          if (ranges[g].index_count == 0 || colors[4 * g + 3] == 0.0f) continue;
          Instance& inst = records[record];
          inst.model = model_matrix(&poses[12 * g]);
          inst.mvp = multiply(view_proj, inst.model);
          std::copy_n(&colors[4 * g], 4, inst.color);
          const physics::VisualGeom& geom = visual.geoms[g];
          inst.ids[0] = static_cast<std::int32_t>(g);
          inst.ids[1] =
              geom.texture >= 0 ? texture_ids[static_cast<std::size_t>(geom.texture)] : -1;
          inst.ids[2] = i;
          inst.tex[0] = geom.texrepeat[0], inst.tex[1] = geom.texrepeat[1];
          inst.tex[2] = geom.texuniform ? 1.0f : 0.0f;
          std::copy_n(geom.size, 3, inst.size);
          vkCmdDrawIndexed(cmd, ranges[g].index_count, 1, ranges[g].first_index,
                           ranges[g].vertex_offset, record);
          ++record;
        }
      }
      vkCmdEndRenderPass(cmd);
      for (int t = 0; t < 3; ++t) {
        VkBufferImageCopy copy{.bufferOffset = 0,
                               .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                               .imageExtent = {static_cast<std::uint32_t>(s.atlas_w),
                                               static_cast<std::uint32_t>(s.atlas_h), 1}};
        vkCmdCopyImageToBuffer(cmd, s.targets[t].image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                               s.readback[t].buffer, 1, &copy);
      }
      VkMemoryBarrier to_host{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                           &to_host, 0, nullptr, 0, nullptr);
    });

    // Tiles out of the atlas into [N, H, W, ...] rows.
    const auto* color = static_cast<const std::uint8_t*>(s.readback[0].mapped);
    const auto* depth = static_cast<const float*>(s.readback[1].mapped);
    const auto* ids = static_cast<const std::int32_t*>(s.readback[2].mapped);
    for (int i = 0; i < m; ++i) {
      const int x0 = (i % cols) * w, y0 = (i / cols) * h;
      const std::size_t env = static_cast<std::size_t>(start + i);
      for (int r = 0; r < h; ++r) {
        const std::size_t src = static_cast<std::size_t>(y0 + r) * s.atlas_w + x0;
        const std::size_t dst = (env * h + r) * w;
        for (int c = 0; c < w; ++c)
          for (int k = 0; k < 3; ++k)
            rgb_[(dst + c) * 3 + k] = color[(src + c) * 4 + k];
        std::memcpy(&depth_[dst], depth + src, sizeof(float) * w);
        std::memcpy(&seg_[dst], ids + src, sizeof(std::int32_t) * w);
      }
    }
  }
}

}  // namespace simlab::engine::render
