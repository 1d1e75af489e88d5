// PNG output and colour maps for looking at depth and segmentation images.
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/render/batch_renderer.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace simlab::engine::render {

void write_png(const std::string& file, int width, int height, const std::uint8_t* rgb) {
  if (!stbi_write_png(file.c_str(), width, height, 3, rgb, width * 3))
    throw Error(SourceLocation{.file = file}, "cannot write PNG (is the folder writable?)");
}

ImageGrid::ImageGrid(int n, int tw, int th, int g)
    : count(n),
      tile_width(tw),
      tile_height(th),
      gap(g),
      columns(std::max(1, static_cast<int>(std::ceil(std::sqrt(n))))),
      width(columns * (tw + g) + g),
      height((n + columns - 1) / columns * (th + g) + g),
      rgb(static_cast<std::size_t>(width) * height * 3, 255) {}

void ImageGrid::fill(const std::uint8_t* images) {
  const std::size_t row = static_cast<std::size_t>(tile_width) * 3;
  for (int i = 0; i < count; ++i) {
    const int x0 = gap + (i % columns) * (tile_width + gap);
    const int y0 = gap + (i / columns) * (tile_height + gap);
    const std::uint8_t* tile = images + static_cast<std::size_t>(i) * tile_height * row;
    for (int y = 0; y < tile_height; ++y)
      std::copy_n(tile + y * row, row,
                  rgb.data() + (static_cast<std::size_t>(y0 + y) * width + x0) * 3);
  }
}

std::vector<std::uint8_t> depth_to_rgb(std::span<const float> depth, float max_depth) {
  std::vector<std::uint8_t> out(depth.size() * 3);
  for (std::size_t i = 0; i < depth.size(); ++i) {
    // Near is bright, far is dark; nothing hit (depth >= max) is black.
    const float t = std::clamp(1.0f - depth[i] / max_depth, 0.0f, 1.0f);
    const auto v = static_cast<std::uint8_t>(std::lround(255 * std::sqrt(t)));
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
  }
  return out;
}

std::vector<std::uint8_t> segmentation_to_rgb(std::span<const std::int32_t> ids) {
  std::vector<std::uint8_t> out(ids.size() * 3, 0);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0) continue;
    // Golden-ratio hues: neighbouring ids get far-apart colours.
    const double h = std::fmod(ids[i] * 0.618033988749895, 1.0) * 6.0;
    const double x = 1 - std::abs(std::fmod(h, 2.0) - 1);
    double rgb[3] = {0, 0, 0};
    switch (static_cast<int>(h)) {
      case 0:
        rgb[0] = 1, rgb[1] = x;
        break;
      case 1:
        rgb[0] = x, rgb[1] = 1;
        break;
      case 2:
        rgb[1] = 1, rgb[2] = x;
        break;
      case 3:
        rgb[1] = x, rgb[2] = 1;
        break;
      case 4:
        rgb[0] = x, rgb[2] = 1;
        break;
      default:
        rgb[0] = 1, rgb[2] = x;
        break;
    }
    for (int k = 0; k < 3; ++k)
      out[3 * i + k] = static_cast<std::uint8_t>(40 + 215 * rgb[k]);
  }
  return out;
}

}  // namespace simlab::engine::render
