#include "scenes/procedural.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <regex>
#include <sstream>

#include "engine/core/rng.h"

namespace simlab::scenes {
namespace {

// Rng stream of a variant's content (keyed by (seed, variant), apart from every env stream).
constexpr std::uint32_t kProceduralStream = 7;

std::string fmt(double x) {
  std::ostringstream out;
  out.precision(5);
  out << x;
  return out.str();
}

std::string vec(std::initializer_list<double> xs) {
  std::string out;
  for (double x : xs) {
    if (!out.empty()) out += ' ';
    out += fmt(x);
  }
  return out;
}

int draw_int(engine::Rng& rng, int lo, int hi) {
  return lo + static_cast<int>(rng.below(static_cast<std::uint32_t>(hi - lo + 1)));
}

// A saturated colour of random hue (HSV with s = 0.7, v = 0.9).
std::array<double, 3> random_colour(engine::Rng& rng) {
  const double h = rng.uniform() * 6.0, s = 0.7, v = 0.9;
  const double c = v * s, x = c * (1 - std::abs(std::fmod(h, 2.0) - 1)), m = v - c;
  std::array<double, 3> rgb{};
  switch (static_cast<int>(h)) {
    case 0:
      rgb = {c, x, 0};
      break;
    case 1:
      rgb = {x, c, 0};
      break;
    case 2:
      rgb = {0, c, x};
      break;
    case 3:
      rgb = {0, x, c};
      break;
    case 4:
      rgb = {x, 0, c};
      break;
    default:
      rgb = {c, 0, x};
      break;
  }
  for (double& ch : rgb)
    ch += m;
  return rgb;
}

struct Placed {
  double x, y, radius;
};

// Objects: free bodies of random primitive shapes, placed by rejection sampling so that their
// bounding circles keep `spacing` apart from each other and from earlier object groups.
void generate_objects(const ObjectSpec& o, engine::Rng& rng, std::vector<Placed>& placed,
                      std::ostringstream& assets, std::ostringstream& bodies,
                      std::vector<std::string>& summary, std::string& key_qpos) {
  const int count = draw_int(rng, o.count_min, o.count_max);
  constexpr int kTries = 200;
  for (int i = 0; i < count; ++i) {
    const std::string name = o.name + std::to_string(i);
    const std::string shape = o.shapes[rng.below(static_cast<std::uint32_t>(o.shapes.size()))];
    const double a = rng.uniform(o.size_min, o.size_max);
    const double b = rng.uniform(o.size_min, o.size_max);
    const double c = rng.uniform(o.size_min, o.size_max);
    std::string size;
    double radius = a, half_height = a;  // bounding circle in xy, and height above the surface
    if (shape == "box") {
      size = vec({a, b, c});
      radius = std::hypot(a, b);
      half_height = c;
    } else if (shape == "sphere") {
      size = fmt(a);
    } else if (shape == "cylinder") {
      size = vec({a, c});
      half_height = c;
    } else {  // capsule, standing: radius a, half-length c
      size = vec({a, c});
      half_height = a + c;
    }
    const double mass = rng.uniform(o.mass_min, o.mass_max);
    const auto rgb = random_colour(rng);
    bool ok = false;
    double x = 0, y = 0;
    for (int t = 0; t < kTries && !ok; ++t) {
      x = rng.uniform(o.region[0] + radius, o.region[2] - radius);
      y = rng.uniform(o.region[1] + radius, o.region[3] - radius);
      ok = o.region[2] - o.region[0] >= 2 * radius && o.region[3] - o.region[1] >= 2 * radius;
      for (const auto& p : placed)
        if (std::hypot(x - p.x, y - p.y) < radius + p.radius + o.spacing) ok = false;
    }
    if (!ok)
      throw Error(o.where,
                  "cannot place object '" + name + "' (" + shape + ", radius " + fmt(radius) +
                      " m) without overlap in region [" + vec({o.region[0], o.region[1]}) +
                      "] - [" + vec({o.region[2], o.region[3]}) + "] after " +
                      std::to_string(kTries) + " tries, with " + std::to_string(placed.size()) +
                      " objects placed; enlarge the region, or lower count or size");
    placed.push_back({x, y, radius});
    const double yaw = rng.uniform(-std::numbers::pi, std::numbers::pi);
    key_qpos +=
        " " + vec({x, y, o.z + half_height + 1e-3, std::cos(yaw / 2), 0, 0, std::sin(yaw / 2)});
    // Material: a random builtin texture (checker, gradient, or none) in two random colours, and
    // random specular and shininess: what a camera sees differs per variant, not only the hue.
    const int texture = static_cast<int>(rng.below(3));
    const auto rgb2 = random_colour(rng);
    if (texture < 2)
      assets << "    <texture name=\"" << name << "\" type=\"cube\" builtin=\""
             << (texture == 0 ? "checker" : "gradient") << "\" width=\"32\" height=\"32\" rgb1=\""
             << vec({rgb[0], rgb[1], rgb[2]}) << "\" rgb2=\"" << vec({rgb2[0], rgb2[1], rgb2[2]})
             << "\"/>\n";
    assets << "    <material name=\"" << name << "\" rgba=\""
           << (texture < 2 ? std::string("1 1 1 1") : vec({rgb[0], rgb[1], rgb[2], 1}))
           << (texture < 2 ? "\" texture=\"" + name : std::string()) << "\" specular=\""
           << fmt(rng.uniform(0.1, 0.6)) << "\" shininess=\"" << fmt(rng.uniform(0.1, 0.8))
           << "\"/>\n";
    bodies << "    <body name=\"" << name << "\" pos=\"" << vec({x, y, o.z + half_height + 1e-3})
           << "\" euler=\"0 0 " << fmt(yaw) << "\">\n"
           << "      <freejoint name=\"" << name << "\"/>\n"
           << "      <geom name=\"" << name << "\" type=\"" << shape << "\" size=\"" << size
           << "\" mass=\"" << fmt(mass) << "\" material=\"" << name << "\" friction=\""
           << fmt(o.friction) << " 0.005 0.0001\" contype=\"" << o.contype << "\" conaffinity=\""
           << o.conaffinity << "\"/>\n"
           << "    </body>\n";
    summary.push_back(shape);
  }
}

// Heightfield elevations in metres on an n x n grid covering [-h, h]^2; row r is y, column c x.
std::vector<float> terrain_heights(const std::string& kind, double difficulty, const TerrainSpec& t,
                                   int n, engine::Rng& rng) {
  std::vector<float> z(static_cast<std::size_t>(n) * n, 0.0f);
  auto coord = [&](int i) { return -t.half_size + 2 * t.half_size * i / (n - 1); };
  const double top = difficulty * t.max_height;
  if (kind == "rough") {
    // Uniform noise, smoothed twice with a 3x3 box so the surface has slopes a foot can meet.
    for (auto& v : z)
      v = static_cast<float>(rng.uniform(0.0, top));
    for (int pass = 0; pass < 2; ++pass) {
      auto copy = z;
      for (int r = 0; r < n; ++r)
        for (int c = 0; c < n; ++c) {
          double sum = 0;
          int k = 0;
          for (int dr = -1; dr <= 1; ++dr)
            for (int dc = -1; dc <= 1; ++dc) {
              const int rr = r + dr, cc = c + dc;
              if (rr < 0 || cc < 0 || rr >= n || cc >= n) continue;
              sum += copy[static_cast<std::size_t>(rr) * n + cc];
              ++k;
            }
          z[static_cast<std::size_t>(r) * n + c] = static_cast<float>(sum / k);
        }
    }
  } else if (kind == "slopes" || kind == "stairs") {
    // A pyramid rising away from the flat square: a slope of up to 25 degrees, or steps 0.4 m
    // deep and up to max_height / 2 high.
    const double slope = std::tan(difficulty * 25.0 * std::numbers::pi / 180.0);
    const double step_height = 0.5 * top, step_depth = 0.4;
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) {
        const double d = std::max(std::abs(coord(r)), std::abs(coord(c))) - t.flat_radius;
        if (d <= 0) continue;
        const double h =
            kind == "slopes" ? d * slope : std::floor(d / step_depth + 1) * step_height;
        z[static_cast<std::size_t>(r) * n + c] = static_cast<float>(std::min(h, t.max_height));
      }
  }
  // Keep the spawn square flat whatever the kind.
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c)
      if (std::abs(coord(r)) <= t.flat_radius && std::abs(coord(c)) <= t.flat_radius)
        z[static_cast<std::size_t>(r) * n + c] = 0.0f;
  return z;
}

}  // namespace

GeneratedVariant generate_variant(const ProceduralSpec& spec, const std::string& base_mjcf,
                                  std::uint64_t seed, int v) {
  engine::Rng rng(seed, static_cast<std::uint32_t>(v), 0, kProceduralStream);
  GeneratedVariant out;
  std::ostringstream assets, bodies;
  std::vector<std::string> parts;

  std::vector<Placed> placed;
  std::string key_qpos;  // the generated free joints' qpos, appended to every keyframe
  int free_joints = 0;
  for (const auto& o : spec.objects) {
    std::vector<std::string> shapes;
    generate_objects(o, rng, placed, assets, bodies, shapes, key_qpos);
    free_joints += static_cast<int>(shapes.size());
    std::string list;
    for (const auto& s : shapes)
      list += (list.empty() ? "" : ", ") + s;
    parts.push_back(std::to_string(shapes.size()) + " " + o.name + (shapes.size() == 1 ? "" : "s") +
                    " (" + list + ")");
  }

  const TerrainSpec& t = spec.terrain;
  if (!t.kinds.empty()) {
    const std::string kind = t.kinds[rng.below(static_cast<std::uint32_t>(t.kinds.size()))];
    const double difficulty = rng.uniform(t.difficulty_min, t.difficulty_max);
    const int n = static_cast<int>(std::lround(2 * t.half_size / t.resolution)) + 1;
    auto heights = terrain_heights(kind, difficulty, t, n, rng);
    engine::physics::HeightField hf{.name = "terrain", .nrow = n, .ncol = n};
    hf.elevation.reserve(heights.size());
    for (float h : heights)
      hf.elevation.push_back(static_cast<float>(h / t.max_height));
    out.heightfields.push_back(std::move(hf));
    assets << "    <hfield name=\"terrain\" nrow=\"" << n << "\" ncol=\"" << n << "\" size=\""
           << vec({t.half_size, t.half_size, t.max_height, 0.1}) << "\"/>\n"
           << "    <texture name=\"terrain\" type=\"2d\" builtin=\"checker\" width=\"64\" "
              "height=\"64\" "
              "rgb1=\""
           << vec({rng.uniform(0.3, 0.5), rng.uniform(0.3, 0.5), rng.uniform(0.3, 0.5)})
           << "\" rgb2=\""
           << vec({rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.7)}) << "\"/>\n"
           << "    <material name=\"terrain\" texture=\"terrain\" texrepeat=\""
           << vec({t.half_size, t.half_size}) << "\"/>\n";
    // Collision bits spelled out: a model's default class may turn collisions off (robots often
    // set conaffinity 0 and let only the floor collide).
    // 1 mm above z = 0, so that a floor plane in the model does not draw through its flat parts.
    bodies << "    <geom name=\"terrain\" type=\"hfield\" hfield=\"terrain\" material=\"terrain\" "
              "pos=\"0 0 0.001\" "
              "friction=\"1 0.005 0.0001\" contype=\"1\" conaffinity=\"1\"/>\n";
    parts.push_back(kind + " terrain, difficulty " + fmt(difficulty));
  }

  const LightSpec& l = spec.lights;
  if (l.count_max > 0) {
    const int count = draw_int(rng, l.count_min, l.count_max);
    for (int k = 0; k < count; ++k) {
      const double angle = rng.uniform(0.0, 2 * std::numbers::pi);
      const double radius = rng.uniform(0.5, 2.0), height = rng.uniform(l.height_min, l.height_max);
      const double d = rng.uniform(l.diffuse_min, l.diffuse_max);
      bodies << "    <light name=\"light" << k << "\" pos=\""
             << vec({radius * std::cos(angle), radius * std::sin(angle), height}) << "\" dir=\""
             << vec({-std::cos(angle), -std::sin(angle), -height / radius}) << "\" diffuse=\""
             << vec({d, d, d}) << "\" castshadow=\"false\"/>\n";
    }
    parts.push_back(std::to_string(count) + " light" + (count == 1 ? "" : "s"));
  }

  // Splice: generated assets in an <asset> section of their own before the first <worldbody>,
  // generated bodies at the end of the last worldbody (MJCF allows repeated sections).
  out.mjcf = base_mjcf;
  const auto body_end = out.mjcf.rfind("</worldbody>");
  const auto world_begin = out.mjcf.find("<worldbody");
  if (body_end == std::string::npos || world_begin == std::string::npos)
    throw Error(spec.where,
                "procedural content needs an MJCF model with a <worldbody> (URDF cannot take it)");
  out.mjcf.insert(body_end, "    <!-- generated: variant " + std::to_string(v) + " -->\n" +
                                bodies.str() + "  ");
  if (!assets.str().empty())
    out.mjcf.insert(world_begin, "<asset>\n" + assets.str() + "  </asset>\n  ");
  // Keyframes list every qpos (and qvel) entry: the generated free joints come last in the tree,
  // so their start poses (and zero velocities) go at the end of each keyframe.
  if (free_joints > 0) {
    std::string zeros;
    for (int k = 0; k < 6 * free_joints; ++k)
      zeros += " 0";
    const std::regex key_tag("<key\\b[^>]*>");
    std::string result;
    auto begin = out.mjcf.cbegin();
    for (std::sregex_iterator it(out.mjcf.begin(), out.mjcf.end(), key_tag), end; it != end; ++it) {
      std::string tag = it->str();
      for (const auto& [attr, extra] :
           {std::pair{std::string("qpos"), key_qpos}, std::pair{std::string("qvel"), zeros}}) {
        const auto at = tag.find(" " + attr + "=\"");
        if (at == std::string::npos) continue;
        const auto close = tag.find('"', at + attr.size() + 3);
        tag.insert(close, extra);
      }
      result.append(begin, out.mjcf.cbegin() + it->position());
      result += tag;
      begin = out.mjcf.cbegin() + it->position() + it->length();
    }
    result.append(begin, out.mjcf.cend());
    out.mjcf = std::move(result);
  }
  for (const auto& p : parts)
    out.summary += (out.summary.empty() ? "" : ", ") + p;
  if (out.summary.empty()) out.summary = "no generated content";
  return out;
}

}  // namespace simlab::scenes
