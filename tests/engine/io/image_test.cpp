// Host images: a line plot draws its series where the axes put them, with text; PNG errors name the
// file.
#include "engine/io/image.h"

#include <cmath>
#include <filesystem>
#include <stb/stb_image.h>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

TEST(Image, LinePlotDrawsItsSeriesAndText) {
  const auto file = std::filesystem::temp_directory_path() / "simlab_plot_test.png";
  std::vector<double> x, rising, gap;
  for (int i = 0; i <= 100; ++i) {
    x.push_back(i * 1000.0);
    rising.push_back(i * 10.0);
    gap.push_back(i >= 40 && i < 60 ? NAN : 500.0);
  }
  write_line_plot(file.string(), "ppo on cartpole", "env steps", x,
                  {{.label = "return", .y = rising, .rgb = {255, 0, 0}},
                   {.label = "flat", .y = gap, .rgb = {0, 0, 255}}},
                  400, 300);
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(file.string().c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr);
  EXPECT_EQ(w, 400);
  EXPECT_EQ(h, 300);
  auto is = [&](int x0, int y0, int r, int g, int b) {
    const unsigned char* p = px + (static_cast<std::size_t>(y0) * w + x0) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
  };
  // Plot area: left 70, right 380, top 40, bottom 250; y from -50 to 1050 after 5% padding.
  auto row_of = [](double v) { return static_cast<int>(40 + (1 - (v + 50) / 1100) * 210); };
  int red = 0, blue_left = 0, blue_gap = 0, dark = 0;
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < w; ++xx) {
      red += is(xx, y, 255, 0, 0);
      dark += is(xx, y, 0, 0, 0);
    }
  for (int dy = -2; dy <= 2; ++dy) {
    blue_left += is(100, row_of(500) + dy, 0, 0, 255);  // x = 9.7k: drawn
    blue_gap += is(225, row_of(500) + dy, 0, 0, 255);   // x = 50k: in the gap
  }
  EXPECT_GT(red, 300);  // the rising line crosses the plot
  EXPECT_TRUE(is(72, row_of(0), 255, 0, 0) || is(72, row_of(0) - 1, 255, 0, 0) ||
              is(71, row_of(0), 255, 0, 0));  // it starts at (0, 0)
  EXPECT_GT(blue_left, 0);
  EXPECT_EQ(blue_gap, 0);  // non-finite values leave a gap
  EXPECT_GT(dark, 400);    // axes, title and labels
  stbi_image_free(px);
  std::filesystem::remove(file);
}

TEST(Image, PointSeriesDrawMarkersWithoutLines) {
  const auto file = std::filesystem::temp_directory_path() / "simlab_scatter_test.png";
  // Two samples, at the left and right ends of the same height.
  write_line_plot(file.string(), "scatter", "x", {0.0, 1.0},
                  {{.label = "", .y = {5.0, 5.0}, .rgb = {0, 160, 0}, .points = true}}, 400, 300);
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(file.string().c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr);
  int left = 0, middle = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const unsigned char* p = px + (static_cast<std::size_t>(y) * w + x) * 3;
      if (p[0] != 0 || p[1] != 160 || p[2] != 0) continue;
      if (x < 100) ++left;
      if (x > 150 && x < 300) ++middle;
    }
  EXPECT_GE(left, 20);   // a 5x5 marker at the first sample
  EXPECT_EQ(middle, 0);  // and no line to the second
  stbi_image_free(px);
  std::filesystem::remove(file);
}

TEST(Image, UnwritablePngIsNamed) {
  const std::uint8_t rgb[3] = {0, 0, 0};
  try {
    write_png("/nonexistent-dir/x.png", 1, 1, rgb);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace simlab::engine::io
