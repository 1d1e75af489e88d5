// Triangle meshes for the rasterizer that draws MuJoCo geoms: one generator per geom type (plane,
// box, sphere, ellipsoid, cylinder, capsule, heightfield, mesh). Each mesh is built in the geom's
// local frame with MuJoCo's size conventions (half sizes, z-up, SI units), so the renderer only
// applies the geom's pose. Triangles are counter-clockwise seen from outside and every vertex has a
// unit outward normal, so back-face culling and lighting need no per-shape fix-ups. Sizes are
// expected to be positive (MuJoCo validates them); segment counts below a minimum are raised to it.
#pragma once

#include <cstdint>
#include <vector>

namespace simlab::engine::render {

struct Vertex {
  float pos[3];
  float normal[3];
};

// Triangles (3 indices each), counter-clockwise when seen from outside (front faces), normals unit
// length pointing outward. Each mesh is in the geom's local frame (MuJoCo conventions).
struct Mesh {
  std::vector<Vertex> vertices;
  std::vector<std::uint32_t> indices;
};

// z = 0, normal +z, one quad (2 triangles). A half size <= 0 means 50 m (MuJoCo draws infinite
// planes).
Mesh make_plane(float half_x, float half_y);

// 24 vertices (4 per face, flat normals per face), 12 triangles.
Mesh make_box(float hx, float hy, float hz);

// A latitude/longitude sphere: `slices` around z (at least 3), `stacks` from pole to pole (at least
// 2). Bounds are exact when slices is a multiple of 4 and stacks is even.
Mesh make_sphere(float r, int slices = 24, int stacks = 12);

// The sphere scaled by the semi-axes; normals use the inverse transpose of the scale, so they are
// correct for the scaled surface.
Mesh make_ellipsoid(float rx, float ry, float rz, int slices = 24, int stacks = 12);

// Axis z, z in [-half_height, half_height], with flat caps (separate cap vertices so cap normals
// are
// +-z). slices >= 3.
Mesh make_cylinder(float r, float half_height, int slices = 24);

// Axis z: a cylinder of half length half_length plus two hemispheres; total extent along z is
// +-(half_length + r). `stacks` is per hemisphere (at least 1).
Mesh make_capsule(float r, float half_length, int slices = 24, int stacks = 6);

// MuJoCo heightfield: `data` is nrow x ncol row-major elevations in [0, 1]; x spans
// [-size_x, size_x] across the ncol columns, y spans [-size_y, size_y] across the nrow rows (row 0
// at y = -size_y), z = data * size_z. The top surface has smooth per-vertex normals from
// neighbouring heights; 4 side walls and a bottom at z = -base (base > 0) close the solid. Throws
// std::invalid_argument when nrow or ncol < 2 or data is null.
Mesh make_heightfield(int nrow, int ncol, const float* data, float size_x, float size_y,
                      float size_z, float base);

// A MuJoCo mesh: nvert vertices (xyz), nface triangles (3 vertex indices each, counter-clockwise
// from outside as MuJoCo stores them). Flat per-face normals (vertices duplicated per face);
// degenerate (zero-area) faces are dropped. Throws std::invalid_argument on an out-of-range index.
Mesh make_triangle_mesh(const float* vertices, int nvert, const int* faces, int nface);

// Append src to dst (offsetting src's indices).
void append(Mesh& dst, const Mesh& src);

// Axis-aligned bounds of the vertices: min[3], max[3]. An empty mesh gives zeros.
void bounds(const Mesh& mesh, float min[3], float max[3]);

// Signed volume enclosed (divergence theorem over the triangles): positive for a closed mesh whose
// triangles are counter-clockwise from outside.
double signed_volume(const Mesh& mesh);

}  // namespace simlab::engine::render
