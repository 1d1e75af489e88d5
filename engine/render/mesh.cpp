#include "engine/render/mesh.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace simlab::engine::render {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr float kInfinitePlaneHalfSize = 50.0f;

// Normalises (nx, ny, nz) in double so that normals are unit length to float precision. A zero
// vector (only reachable through a degenerate input) becomes +z rather than NaN.
Vertex make_vertex(double px, double py, double pz, double nx, double ny, double nz) {
  const double len = std::sqrt(nx * nx + ny * ny + nz * nz);
  if (len > 0.0) {
    nx /= len;
    ny /= len;
    nz /= len;
  } else {
    nx = 0.0;
    ny = 0.0;
    nz = 1.0;
  }
  return Vertex{{static_cast<float>(px), static_cast<float>(py), static_cast<float>(pz)},
                {static_cast<float>(nx), static_cast<float>(ny), static_cast<float>(nz)}};
}

std::uint32_t index_of(std::size_t i) {
  return static_cast<std::uint32_t>(i);
}

void add_triangle(Mesh& mesh, std::uint32_t a, std::uint32_t b, std::uint32_t c) {
  mesh.indices.push_back(a);
  mesh.indices.push_back(b);
  mesh.indices.push_back(c);
}

// (a, b, c, d) counter-clockwise seen from the front.
void add_quad(Mesh& mesh, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  add_triangle(mesh, a, b, c);
  add_triangle(mesh, a, c, d);
}

// Indices for a closed surface laid out from `first` as: a top pole vertex, `rings` rings of
// `slices` vertices each (top to bottom, angle increasing counter-clockwise about +z), and a bottom
// pole vertex. Sphere, ellipsoid and capsule share this layout. Going down a ring ("south") then
// along it ("east") gives south x east = outward, which fixes the winding below.
void add_pole_ring_indices(Mesh& mesh, std::uint32_t first, int rings, int slices) {
  const std::uint32_t top = first;
  const std::uint32_t bottom = first + 1 + static_cast<std::uint32_t>(rings * slices);
  auto at = [&](int ring, int slice) {
    return first + 1 + static_cast<std::uint32_t>(ring * slices + slice % slices);
  };
  for (int j = 0; j < slices; ++j)
    add_triangle(mesh, top, at(0, j), at(0, j + 1));
  for (int i = 0; i + 1 < rings; ++i) {
    for (int j = 0; j < slices; ++j)
      add_quad(mesh, at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1));
  }
  for (int j = 0; j < slices; ++j)
    add_triangle(mesh, at(rings - 1, j), bottom, at(rings - 1, j + 1));
}

// A point of the unit sphere at polar angle theta (from +z) and azimuth phi.
struct UnitDir {
  double x, y, z;
};
UnitDir unit_dir(double theta, double phi) {
  return {std::sin(theta) * std::cos(phi), std::sin(theta) * std::sin(phi), std::cos(theta)};
}

double azimuth(int slice, int slices) {
  return 2.0 * kPi * slice / slices;
}

}  // namespace

Mesh make_plane(float half_x, float half_y) {
  const double hx = half_x > 0.0f ? half_x : kInfinitePlaneHalfSize;
  const double hy = half_y > 0.0f ? half_y : kInfinitePlaneHalfSize;
  Mesh mesh;
  mesh.vertices = {make_vertex(-hx, -hy, 0, 0, 0, 1), make_vertex(hx, -hy, 0, 0, 0, 1),
                   make_vertex(hx, hy, 0, 0, 0, 1), make_vertex(-hx, hy, 0, 0, 0, 1)};
  add_quad(mesh, 0, 1, 2, 3);
  return mesh;
}

Mesh make_box(float hx, float hy, float hz) {
  const double half[3] = {hx, hy, hz};
  Mesh mesh;
  mesh.vertices.reserve(24);
  mesh.indices.reserve(36);
  // Face with outward normal sign * e_axis. With u = e_(axis+1) and v = e_(axis+2), u x v = e_axis,
  // so corners (-u,-v), (+u,-v), (+u,+v), (-u,+v) are counter-clockwise for the + face; the - face
  // swaps u and v.
  for (int axis = 0; axis < 3; ++axis) {
    for (int sign : {1, -1}) {
      int u = (axis + 1) % 3;
      int v = (axis + 2) % 3;
      if (sign < 0) std::swap(u, v);
      const std::uint32_t first = index_of(mesh.vertices.size());
      const int corners[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
      for (const auto& corner : corners) {
        double p[3];
        double n[3] = {0, 0, 0};
        p[axis] = sign * half[axis];
        p[u] = corner[0] * half[u];
        p[v] = corner[1] * half[v];
        n[axis] = sign;
        mesh.vertices.push_back(make_vertex(p[0], p[1], p[2], n[0], n[1], n[2]));
      }
      add_quad(mesh, first, first + 1, first + 2, first + 3);
    }
  }
  return mesh;
}

Mesh make_sphere(float r, int slices, int stacks) {
  return make_ellipsoid(r, r, r, slices, stacks);
}

Mesh make_ellipsoid(float rx, float ry, float rz, int slices, int stacks) {
  slices = std::max(slices, 3);
  stacks = std::max(stacks, 2);
  const int rings = stacks - 1;
  Mesh mesh;
  mesh.vertices.reserve(static_cast<std::size_t>(rings * slices + 2));
  mesh.indices.reserve(static_cast<std::size_t>(6 * slices * rings));
  // A unit-sphere point d maps to (rx dx, ry dy, rz dz). Normals transform by the inverse
  // transpose of that scale, i.e. (dx / rx, dy / ry, dz / rz) before normalising.
  auto push = [&](const UnitDir& d) {
    mesh.vertices.push_back(
        make_vertex(rx * d.x, ry * d.y, rz * d.z, d.x / rx, d.y / ry, d.z / rz));
  };
  push({0, 0, 1});
  for (int i = 1; i <= rings; ++i) {
    const double theta = kPi * i / stacks;
    for (int j = 0; j < slices; ++j)
      push(unit_dir(theta, azimuth(j, slices)));
  }
  push({0, 0, -1});
  add_pole_ring_indices(mesh, 0, rings, slices);
  return mesh;
}

Mesh make_cylinder(float r, float half_height, int slices) {
  slices = std::max(slices, 3);
  const double h = half_height;
  Mesh mesh;
  mesh.vertices.reserve(static_cast<std::size_t>(4 * slices + 2));
  mesh.indices.reserve(static_cast<std::size_t>(12 * slices));

  // Side: a bottom and a top vertex per slice with radial normals, so the side shades smoothly.
  for (int j = 0; j < slices; ++j) {
    const double c = std::cos(azimuth(j, slices));
    const double s = std::sin(azimuth(j, slices));
    mesh.vertices.push_back(make_vertex(r * c, r * s, -h, c, s, 0));
    mesh.vertices.push_back(make_vertex(r * c, r * s, h, c, s, 0));
  }
  for (int j = 0; j < slices; ++j) {
    const std::uint32_t b0 = index_of(2 * j);
    const std::uint32_t b1 = index_of(2 * ((j + 1) % slices));
    add_quad(mesh, b0, b1, b1 + 1, b0 + 1);
  }

  // Caps: their own center and rim vertices so that the cap normals are exactly +-z.
  for (int sign : {1, -1}) {
    const std::uint32_t center = index_of(mesh.vertices.size());
    mesh.vertices.push_back(make_vertex(0, 0, sign * h, 0, 0, sign));
    for (int j = 0; j < slices; ++j) {
      const double phi = azimuth(j, slices);
      mesh.vertices.push_back(
          make_vertex(r * std::cos(phi), r * std::sin(phi), sign * h, 0, 0, sign));
    }
    for (int j = 0; j < slices; ++j) {
      const std::uint32_t a = center + 1 + index_of(j);
      const std::uint32_t b = center + 1 + index_of((j + 1) % slices);
      // Rim order is counter-clockwise seen from +z: keep it for the top, reverse it for the
      // bottom.
      if (sign > 0)
        add_triangle(mesh, center, a, b);
      else
        add_triangle(mesh, center, b, a);
    }
  }
  return mesh;
}

Mesh make_capsule(float r, float half_length, int slices, int stacks) {
  slices = std::max(slices, 3);
  stacks = std::max(stacks, 1);
  const double len = half_length;
  // The two hemispheres' equator rings bound the cylindrical band; with no band they would
  // coincide, so the lower one is left out and the capsule is a sphere.
  const bool band = len > 0.0;
  const int rings = 2 * stacks - (band ? 0 : 1);
  Mesh mesh;
  mesh.vertices.reserve(static_cast<std::size_t>(rings * slices + 2));
  mesh.indices.reserve(static_cast<std::size_t>(6 * slices * rings));
  // Hemisphere vertices are sphere points offset by +-len along z; their normals are the sphere's,
  // which are also the band's radial normals at the equators.
  auto push = [&](const UnitDir& d, double z_offset) {
    mesh.vertices.push_back(make_vertex(r * d.x, r * d.y, r * d.z + z_offset, d.x, d.y, d.z));
  };
  mesh.vertices.push_back(make_vertex(0, 0, static_cast<double>(half_length + r), 0, 0, 1));
  for (int k = 1; k <= stacks; ++k) {
    const double theta = 0.5 * kPi * k / stacks;
    for (int j = 0; j < slices; ++j)
      push(unit_dir(theta, azimuth(j, slices)), len);
  }
  for (int k = band ? 0 : 1; k < stacks; ++k) {
    const double theta = 0.5 * kPi + 0.5 * kPi * k / stacks;
    for (int j = 0; j < slices; ++j)
      push(unit_dir(theta, azimuth(j, slices)), -len);
  }
  mesh.vertices.push_back(make_vertex(0, 0, -static_cast<double>(half_length + r), 0, 0, -1));
  add_pole_ring_indices(mesh, 0, rings, slices);
  return mesh;
}

Mesh make_heightfield(int nrow, int ncol, const float* data, float size_x, float size_y,
                      float size_z, float base) {
  if (nrow < 2 || ncol < 2 || data == nullptr) {
    throw std::invalid_argument("make_heightfield: need a non-null nrow x ncol grid with nrow, " +
                                std::string("ncol >= 2 (got ") + std::to_string(nrow) + " x " +
                                std::to_string(ncol) + ")");
  }
  auto x_at = [&](int c) { return -size_x + 2.0 * size_x * c / (ncol - 1); };
  auto y_at = [&](int r) { return -size_y + 2.0 * size_y * r / (nrow - 1); };
  auto z_at = [&](int r, int c) { return static_cast<double>(data[r * ncol + c]) * size_z; };
  auto top_index = [&](int r, int c) { return index_of(static_cast<std::size_t>(r * ncol + c)); };

  Mesh mesh;
  const std::size_t boundary = static_cast<std::size_t>(2 * (nrow + ncol) - 4);
  mesh.vertices.reserve(static_cast<std::size_t>(nrow * ncol) + 2 * (boundary + 4) + boundary + 1);
  mesh.indices.reserve(static_cast<std::size_t>(6 * (nrow - 1) * (ncol - 1)) + 9 * boundary);

  // Top surface. The normal of z = f(x, y) is (-df/dx, -df/dy, 1); the slopes are central
  // differences inside the grid and one-sided on its border.
  for (int r = 0; r < nrow; ++r) {
    for (int c = 0; c < ncol; ++c) {
      const int c0 = std::max(c - 1, 0);
      const int c1 = std::min(c + 1, ncol - 1);
      const int r0 = std::max(r - 1, 0);
      const int r1 = std::min(r + 1, nrow - 1);
      const double dzdx = (z_at(r, c1) - z_at(r, c0)) / (x_at(c1) - x_at(c0));
      const double dzdy = (z_at(r1, c) - z_at(r0, c)) / (y_at(r1) - y_at(r0));
      mesh.vertices.push_back(make_vertex(x_at(c), y_at(r), z_at(r, c), -dzdx, -dzdy, 1.0));
    }
  }
  // x grows with the column and y with the row, so this corner order is counter-clockwise from +z.
  for (int r = 0; r + 1 < nrow; ++r) {
    for (int c = 0; c + 1 < ncol; ++c)
      add_quad(mesh, top_index(r, c), top_index(r, c + 1), top_index(r + 1, c + 1),
               top_index(r + 1, c));
  }

  // The boundary walked counter-clockwise seen from +z, one list of grid points per side (corners
  // repeated, since each wall needs its own corner vertices with its own flat normal).
  struct GridPoint {
    int r, c;
  };
  struct Side {
    std::vector<GridPoint> points;
    double normal[3];
  };
  Side sides[4] = {{{}, {0, -1, 0}}, {{}, {1, 0, 0}}, {{}, {0, 1, 0}}, {{}, {-1, 0, 0}}};
  for (int c = 0; c < ncol; ++c)
    sides[0].points.push_back({0, c});
  for (int r = 0; r < nrow; ++r)
    sides[1].points.push_back({r, ncol - 1});
  for (int c = ncol - 1; c >= 0; --c)
    sides[2].points.push_back({nrow - 1, c});
  for (int r = nrow - 1; r >= 0; --r)
    sides[3].points.push_back({r, 0});

  // Walls: walking along the boundary direction t with t x z = outward normal, the quad
  // (bottom k, bottom k+1, top k+1, top k) is counter-clockwise seen from outside.
  const double bottom_z = -static_cast<double>(base);
  for (const Side& side : sides) {
    const std::uint32_t first = index_of(mesh.vertices.size());
    for (const GridPoint& p : side.points) {
      const double x = x_at(p.c);
      const double y = y_at(p.r);
      const double* n = side.normal;
      mesh.vertices.push_back(make_vertex(x, y, bottom_z, n[0], n[1], n[2]));
      mesh.vertices.push_back(make_vertex(x, y, z_at(p.r, p.c), n[0], n[1], n[2]));
    }
    for (std::size_t k = 0; k + 1 < side.points.size(); ++k) {
      const std::uint32_t b0 = first + index_of(2 * k);
      const std::uint32_t b1 = b0 + 2;
      add_quad(mesh, b0, b1, b1 + 1, b0 + 1);
    }
  }

  // Bottom: a fan from the center to every boundary point, so its edges match the walls' bottom
  // edges one for one (no T-junctions). Reversing the counter-clockwise boundary faces it down.
  const std::uint32_t center = index_of(mesh.vertices.size());
  mesh.vertices.push_back(make_vertex(0, 0, bottom_z, 0, 0, -1));
  for (const Side& side : sides) {
    // Each side's last point is the next side's first: skip it here.
    for (std::size_t k = 0; k + 1 < side.points.size(); ++k) {
      const GridPoint& p = side.points[k];
      mesh.vertices.push_back(make_vertex(x_at(p.c), y_at(p.r), bottom_z, 0, 0, -1));
    }
  }
  for (std::size_t k = 0; k < boundary; ++k) {
    const std::uint32_t a = center + 1 + index_of(k);
    const std::uint32_t b = center + 1 + index_of((k + 1) % boundary);
    add_triangle(mesh, center, b, a);
  }
  return mesh;
}

Mesh make_triangle_mesh(const float* vertices, int nvert, const int* faces, int nface) {
  Mesh mesh;
  if (nface <= 0) return mesh;
  mesh.vertices.reserve(static_cast<std::size_t>(3 * nface));
  mesh.indices.reserve(static_cast<std::size_t>(3 * nface));
  for (int f = 0; f < nface; ++f) {
    const int* face = faces + 3 * f;
    for (int k = 0; k < 3; ++k) {
      if (face[k] < 0 || face[k] >= nvert) {
        throw std::invalid_argument("make_triangle_mesh: face " + std::to_string(f) +
                                    " has vertex index " + std::to_string(face[k]) +
                                    " outside [0, " + std::to_string(nvert) + ")");
      }
    }
    const float* a = vertices + 3 * face[0];
    const float* b = vertices + 3 * face[1];
    const float* c = vertices + 3 * face[2];
    // Flat normal (b - a) x (c - a); the winding is counter-clockwise from outside, so it points
    // out. A zero-area face has no normal and draws nothing, so it is dropped.
    const double e1[3] = {double{b[0]} - a[0], double{b[1]} - a[1], double{b[2]} - a[2]};
    const double e2[3] = {double{c[0]} - a[0], double{c[1]} - a[1], double{c[2]} - a[2]};
    const double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                         e1[0] * e2[1] - e1[1] * e2[0]};
    const double len2 = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    if (!(len2 > 0.0) || !std::isfinite(len2)) continue;
    const std::uint32_t first = index_of(mesh.vertices.size());
    for (const float* p : {a, b, c})
      mesh.vertices.push_back(make_vertex(p[0], p[1], p[2], n[0], n[1], n[2]));
    add_triangle(mesh, first, first + 1, first + 2);
  }
  return mesh;
}

void append(Mesh& dst, const Mesh& src) {
  const std::uint32_t offset = index_of(dst.vertices.size());
  dst.vertices.insert(dst.vertices.end(), src.vertices.begin(), src.vertices.end());
  dst.indices.reserve(dst.indices.size() + src.indices.size());
  for (std::uint32_t i : src.indices)
    dst.indices.push_back(i + offset);
}

void bounds(const Mesh& mesh, float min[3], float max[3]) {
  if (mesh.vertices.empty()) {
    for (int k = 0; k < 3; ++k)
      min[k] = max[k] = 0.0f;
    return;
  }
  for (int k = 0; k < 3; ++k)
    min[k] = max[k] = mesh.vertices[0].pos[k];
  for (const Vertex& v : mesh.vertices) {
    for (int k = 0; k < 3; ++k) {
      min[k] = std::min(min[k], v.pos[k]);
      max[k] = std::max(max[k], v.pos[k]);
    }
  }
}

double signed_volume(const Mesh& mesh) {
  // Each triangle with the origin spans a tetrahedron of signed volume a . (b x c) / 6; over a
  // closed surface the sum is the enclosed volume wherever the origin lies.
  double sum = 0.0;
  for (std::size_t t = 0; t + 2 < mesh.indices.size(); t += 3) {
    const float* a = mesh.vertices[mesh.indices[t]].pos;
    const float* b = mesh.vertices[mesh.indices[t + 1]].pos;
    const float* c = mesh.vertices[mesh.indices[t + 2]].pos;
    const double bxc[3] = {double{b[1]} * c[2] - double{b[2]} * c[1],
                           double{b[2]} * c[0] - double{b[0]} * c[2],
                           double{b[0]} * c[1] - double{b[1]} * c[0]};
    sum += a[0] * bxc[0] + a[1] * bxc[1] + a[2] * bxc[2];
  }
  return sum / 6.0;
}

}  // namespace simlab::engine::render
