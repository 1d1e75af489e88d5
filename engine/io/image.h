// Images on the host: PNG output, contact-sheet grids, colour maps for depth and segmentation, and
// line plots (learning curves). No Vulkan here: datasets, learners and the renderer all use it.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace simlab::engine::io {

// Write an [H, W, 3] image as PNG; throws simlab::Error naming the file if it cannot.
void write_png(const std::string& file, int width, int height, const std::uint8_t* rgb);
// `count` [tile_height, tile_width, 3] images side by side, ceil(sqrt(count)) per row, `gap`
// pixels apart on white: contact sheets and the viewer's window. fill() reuses the buffer.
struct ImageGrid {
  ImageGrid(int count, int tile_width, int tile_height, int gap);
  void fill(const std::uint8_t* images);  // the count images, back to back
  int count, tile_width, tile_height, gap, columns, width, height;
  std::vector<std::uint8_t> rgb;  // [height, width, 3]
};

// Colour maps for looking at depth (near bright, far dark) and segmentation (one hue per id).
std::vector<std::uint8_t> depth_to_rgb(std::span<const float> depth, float max_depth);
std::vector<std::uint8_t> segmentation_to_rgb(std::span<const std::int32_t> ids);

// A line chart of one or more series against a shared x axis, with a title, axis labels and tick
// values (stb_easy_font), written as PNG. Series with fewer points than x are drawn as far as they
// go; non-finite values leave gaps.
struct PlotSeries {
  std::string label;
  std::vector<double> y;
  std::uint8_t rgb[3] = {31, 119, 180};
  bool points = false;  // a marker per sample (a scatter) instead of a line
  // Optional: a shaded band from lo to hi at each x (a confidence interval), drawn under the line.
  std::vector<double> lo, hi;
};
void write_line_plot(const std::string& file, const std::string& title, const std::string& x_label,
                     const std::vector<double>& x, const std::vector<PlotSeries>& series,
                     int width = 800, int height = 480);
// The same chart as [height, width, 3] pixels, for figures of several panels (ImageGrid).
// `y_range` fixes the y axis (both finite), widened where the data reach past it; `x_band` (both
// finite) shades that stretch of x in light grey (a training range).
std::vector<std::uint8_t> render_line_plot(const std::string& title, const std::string& x_label,
                                           const std::vector<double>& x,
                                           const std::vector<PlotSeries>& series, int width,
                                           int height,
                                           std::pair<double, double> y_range = {NAN, NAN},
                                           std::pair<double, double> x_band = {NAN, NAN});

}  // namespace simlab::engine::io
