// PNG output, grids, colour maps and line plots.
#include "engine/io/image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/error.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_easy_font.h>
#include <stb_image_write.h>

namespace simlab::engine::io {

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

namespace {

// A canvas with the few primitives a chart needs.
struct Canvas {
  int w, h;
  std::vector<std::uint8_t> rgb;
  Canvas(int width, int height)
      : w(width), h(height), rgb(static_cast<std::size_t>(width) * height * 3, 255) {}
  void set(int x, int y, const std::uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    std::copy_n(c, 3, &rgb[(static_cast<std::size_t>(y) * w + x) * 3]);
  }
  void rect(int x0, int y0, int x1, int y1, const std::uint8_t c[3]) {
    for (int y = std::max(0, y0); y < std::min(h, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(w, x1); ++x)
        set(x, y, c);
  }
  // A line two pixels wide (Bresenham, thickened).
  void line(double x0, double y0, double x1, double y1, const std::uint8_t c[3]) {
    const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      set(x, y, c), set(x + 1, y, c), set(x, y + 1, c), set(x + 1, y + 1, c);
    }
  }
  // Text through stb_easy_font's quads, `scale` pixels per font unit.
  void text(int x, int y, const std::string& s, const std::uint8_t c[3], int scale = 1) {
    static thread_local std::vector<char> buffer(1 << 16);
    const int quads = stb_easy_font_print(0, 0, const_cast<char*>(s.c_str()), nullptr,
                                          buffer.data(), static_cast<int>(buffer.size()));
    for (int q = 0; q < quads; ++q) {
      const auto* v = reinterpret_cast<const float*>(buffer.data() + q * 4 * 16);
      // Each vertex: x, y, z, colour (16 bytes); corners 0 and 2 bound the quad.
      const int qx0 = x + static_cast<int>(v[0] * scale), qy0 = y + static_cast<int>(v[1] * scale);
      const int qx1 = x + static_cast<int>(v[8] * scale), qy1 = y + static_cast<int>(v[9] * scale);
      rect(qx0, qy0, qx1, qy1, c);
    }
  }
};

// Round numbers for ticks: about `count` of them over [lo, hi].
std::vector<double> ticks(double lo, double hi, int count) {
  const double raw = (hi - lo) / std::max(count, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step)
    out.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  return out;
}

std::string number(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof buf, "%.4gk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

void write_line_plot(const std::string& file, const std::string& title, const std::string& x_label,
                     const std::vector<double>& x, const std::vector<PlotSeries>& series, int width,
                     int height) {
  write_png(file, width, height, render_line_plot(title, x_label, x, series, width, height).data());
}

std::vector<std::uint8_t> render_line_plot(const std::string& title, const std::string& x_label,
                                           const std::vector<double>& x,
                                           const std::vector<PlotSeries>& series, int width,
                                           int height, std::pair<double, double> y_range,
                                           std::pair<double, double> x_band) {
  Canvas c(width, height);
  const std::uint8_t black[3] = {0, 0, 0}, grid[3] = {225, 225, 225}, grey[3] = {90, 90, 90};
  const int left = 70, right = 20, top = 40, bottom = 50;
  const int pw = width - left - right, ph = height - top - bottom;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool any = false;
  for (std::size_t i = 0; i < x.size(); ++i)
    for (const auto& s : series)
      for (const auto* v : {&s.y, &s.lo, &s.hi})
        if (i < v->size() && std::isfinite((*v)[i])) {
          if (!any) x0 = x1 = x[i], y0 = y1 = (*v)[i], any = true;
          x0 = std::min(x0, x[i]), x1 = std::max(x1, x[i]);
          y0 = std::min(y0, (*v)[i]), y1 = std::max(y1, (*v)[i]);
        }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  if (std::isfinite(y_range.first) && std::isfinite(y_range.second) &&
      y_range.first < y_range.second) {
    if (y0 + pad >= y_range.first) y0 = y_range.first;
    if (y1 - pad <= y_range.second) y1 = y_range.second;
  }
  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * pw; };
  auto py = [&](double v) { return top + (1 - (v - y0) / (y1 - y0)) * ph; };
  if (std::isfinite(x_band.first) && std::isfinite(x_band.second)) {
    const std::uint8_t shade[3] = {238, 238, 238};
    const double a =
        std::clamp(px(std::min(x_band.first, x_band.second)), double(left), double(left + pw));
    const double b =
        std::clamp(px(std::max(x_band.first, x_band.second)), double(left), double(left + pw));
    c.rect(static_cast<int>(a), top, std::max(static_cast<int>(b), static_cast<int>(a) + 2),
           top + ph, shade);
  }
  for (double t : ticks(y0, y1, 6)) {
    const int y = static_cast<int>(py(t));
    c.rect(left, y, left + pw, y + 1, grid);
    const std::string s = number(t);
    c.text(left - 8 - 6 * static_cast<int>(s.size()), y - 4, s, grey);
  }
  for (double t : ticks(x0, x1, 6)) {
    const int x = static_cast<int>(px(t));
    c.rect(x, top, x + 1, top + ph, grid);
    const std::string s = number(t);
    c.text(x - 3 * static_cast<int>(s.size()), top + ph + 8, s, grey);
  }
  c.rect(left, top + ph, left + pw, top + ph + 1, black);
  c.rect(left, top, left + 1, top + ph, black);
  // Bands first, in each series' colour washed towards white, column by column between samples.
  for (const auto& s : series) {
    const std::uint8_t wash[3] = {static_cast<std::uint8_t>(255 - (255 - s.rgb[0]) / 4),
                                  static_cast<std::uint8_t>(255 - (255 - s.rgb[1]) / 4),
                                  static_cast<std::uint8_t>(255 - (255 - s.rgb[2]) / 4)};
    const std::size_t n = std::min({x.size(), s.lo.size(), s.hi.size()});
    for (std::size_t i = 0; i + 1 < n; ++i) {
      if (!std::isfinite(s.lo[i]) || !std::isfinite(s.hi[i]) || !std::isfinite(s.lo[i + 1]) ||
          !std::isfinite(s.hi[i + 1]))
        continue;
      const double xa = px(x[i]), xb = px(x[i + 1]);
      for (int X = static_cast<int>(std::ceil(std::min(xa, xb)));
           X <= static_cast<int>(std::max(xa, xb)); ++X) {
        const double t = xb != xa ? (X - xa) / (xb - xa) : 0;
        const double lo = s.lo[i] + t * (s.lo[i + 1] - s.lo[i]);
        const double hi = s.hi[i] + t * (s.hi[i + 1] - s.hi[i]);
        const int ya = static_cast<int>(std::clamp(py(hi), double(top), double(top + ph)));
        const int yb = static_cast<int>(std::clamp(py(lo), double(top), double(top + ph)));
        for (int Y = ya; Y <= yb; ++Y) {
          auto* px_rgb = &c.rgb[(static_cast<std::size_t>(Y) * c.w + X) * 3];
          // Multiplied in, so that where two bands overlap both colours still show.
          for (int k = 0; k < 3; ++k)
            px_rgb[k] = static_cast<std::uint8_t>(px_rgb[k] * wash[k] / 255);
        }
      }
    }
  }
  for (const auto& s : series) {
    bool pen = false;
    double lx = 0, ly = 0;
    for (std::size_t i = 0; i < x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        pen = false;
        continue;
      }
      const double X = px(x[i]), Y = py(s.y[i]);
      if (s.points) {
        const int cx = static_cast<int>(X), cy = static_cast<int>(Y);
        c.rect(cx - 2, cy - 2, cx + 3, cy + 3, s.rgb);
        continue;
      }
      if (pen) c.line(lx, ly, X, Y, s.rgb);
      lx = X, ly = Y, pen = true;
    }
  }
  c.text(left, 12, title, black, 2);
  c.text(left + pw / 2 - 3 * static_cast<int>(x_label.size()), height - 18, x_label, black);
  int ly = top + 6;  // legend, top right
  for (const auto& s : series) {
    const int lx = left + pw - 8 - 6 * static_cast<int>(s.label.size()) - 20;
    c.rect(lx, ly + 2, lx + 14, ly + 5, s.rgb);
    c.text(lx + 20, ly, s.label, black);
    ly += 14;
  }
  return std::move(c.rgb);
}

}  // namespace simlab::engine::io
