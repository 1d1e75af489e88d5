#include "engine/render/mesh.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace simlab::engine::render {
namespace {

constexpr double kPi = 3.14159265358979323846;

using Vec3 = std::array<double, 3>;

Vec3 pos(const Mesh& m, std::uint32_t i) {
  const float* p = m.vertices[i].pos;
  return {p[0], p[1], p[2]};
}
Vec3 normal(const Mesh& m, std::uint32_t i) {
  const float* n = m.vertices[i].normal;
  return {n[0], n[1], n[2]};
}
Vec3 sub(const Vec3& a, const Vec3& b) {
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
double norm(const Vec3& a) {
  return std::sqrt(dot(a, a));
}

// Face normal (unnormalised) and centroid of triangle t.
Vec3 face_normal(const Mesh& m, std::size_t t) {
  const Vec3 a = pos(m, m.indices[3 * t]);
  return cross(sub(pos(m, m.indices[3 * t + 1]), a), sub(pos(m, m.indices[3 * t + 2]), a));
}
Vec3 centroid(const Mesh& m, std::size_t t) {
  Vec3 g{0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    const Vec3 p = pos(m, m.indices[3 * t + k]);
    for (int d = 0; d < 3; ++d)
      g[d] += p[d] / 3.0;
  }
  return g;
}

// Indices in range, a whole number of triangles, unit normals. Reports the first offender only so a
// broken generator does not flood the log.
::testing::AssertionResult WellFormed(const Mesh& m) {
  if (m.vertices.empty() || m.indices.empty()) return ::testing::AssertionFailure() << "empty mesh";
  if (m.indices.size() % 3 != 0)
    return ::testing::AssertionFailure() << m.indices.size() << " indices is not a multiple of 3";
  for (std::size_t k = 0; k < m.indices.size(); ++k) {
    if (m.indices[k] >= m.vertices.size())
      return ::testing::AssertionFailure() << "index " << k << " = " << m.indices[k]
                                           << " >= " << m.vertices.size() << " vertices";
  }
  for (std::size_t i = 0; i < m.vertices.size(); ++i) {
    const double len = norm(normal(m, static_cast<std::uint32_t>(i)));
    if (!(std::abs(len - 1.0) <= 1e-4))
      return ::testing::AssertionFailure() << "vertex " << i << " normal length " << len;
  }
  return ::testing::AssertionSuccess();
}

// For a convex shape around the origin: every triangle is non-degenerate, its cross-product normal
// points away from the origin, and it agrees with the stored normals of its three vertices.
::testing::AssertionResult OutwardConvex(const Mesh& m) {
  for (std::size_t t = 0; t < m.indices.size() / 3; ++t) {
    const Vec3 n = face_normal(m, t);
    if (!(norm(n) > 0.0)) return ::testing::AssertionFailure() << "triangle " << t << " degenerate";
    if (!(dot(n, centroid(m, t)) > 0.0))
      return ::testing::AssertionFailure() << "triangle " << t << " faces the origin";
    for (int k = 0; k < 3; ++k) {
      if (!(dot(n, normal(m, m.indices[3 * t + k])) > 0.0))
        return ::testing::AssertionFailure()
               << "triangle " << t << " disagrees with the normal of its vertex " << k;
    }
  }
  return ::testing::AssertionSuccess();
}

// Watertight and consistently wound: every directed edge a->b (keyed by vertex position, since
// shapes duplicate vertices for flat normals) is matched by exactly as many b->a edges.
::testing::AssertionResult ClosedAndConsistent(const Mesh& m) {
  using Key = std::array<float, 3>;
  auto key = [&](std::uint32_t i) {
    const float* p = m.vertices[i].pos;
    return Key{p[0], p[1], p[2]};
  };
  std::map<std::pair<Key, Key>, int> edges;
  for (std::size_t t = 0; t < m.indices.size() / 3; ++t) {
    for (int k = 0; k < 3; ++k) {
      const Key a = key(m.indices[3 * t + k]);
      const Key b = key(m.indices[3 * t + (k + 1) % 3]);
      ++edges[{a, b}];
    }
  }
  for (const auto& [edge, count] : edges) {
    auto reverse = edges.find({edge.second, edge.first});
    const int back = reverse == edges.end() ? 0 : reverse->second;
    if (back != count)
      return ::testing::AssertionFailure()
             << "edge (" << edge.first[0] << ", " << edge.first[1] << ", " << edge.first[2]
             << ") -> (" << edge.second[0] << ", " << edge.second[1] << ", " << edge.second[2]
             << ") used " << count << " times, reversed " << back << " times";
  }
  return ::testing::AssertionSuccess();
}

void ExpectBounds(const Mesh& m, const Vec3& lo, const Vec3& hi, double tol = 1e-5) {
  float mn[3];
  float mx[3];
  bounds(m, mn, mx);
  for (int d = 0; d < 3; ++d) {
    EXPECT_NEAR(mn[d], lo[d], tol) << "axis " << d;
    EXPECT_NEAR(mx[d], hi[d], tol) << "axis " << d;
  }
}

void ExpectRelNear(double actual, double expected, double rel) {
  EXPECT_NEAR(actual, expected, rel * std::abs(expected)) << "relative tolerance " << rel;
}

TEST(Mesh, EveryGeneratorIsWellFormed) {
  const float tet[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  const int tet_faces[] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
  std::vector<float> hfield(5 * 7);
  for (std::size_t i = 0; i < hfield.size(); ++i)
    hfield[i] = static_cast<float>((i * 37) % 11) / 10.0f;
  const std::vector<std::pair<std::string, Mesh>> meshes = {
      {"plane", make_plane(2, 3)},
      {"infinite plane", make_plane(0, 0)},
      {"box", make_box(1, 2, 3)},
      {"sphere", make_sphere(0.5f)},
      {"coarse sphere", make_sphere(1, 3, 2)},
      {"ellipsoid", make_ellipsoid(0.1f, 0.4f, 2.0f)},
      {"cylinder", make_cylinder(0.3f, 0.8f)},
      {"capsule", make_capsule(0.2f, 0.6f)},
      {"capsule without band", make_capsule(0.2f, 0.0f, 5, 1)},
      {"heightfield", make_heightfield(5, 7, hfield.data(), 3, 2, 0.5f, 0.1f)},
      {"tetrahedron", make_triangle_mesh(tet, 4, tet_faces, 4)},
  };
  for (const auto& [name, mesh] : meshes)
    EXPECT_TRUE(WellFormed(mesh)) << name;
}

TEST(Plane, IsOneUpwardQuadWithTheHalfSizes) {
  const Mesh m = make_plane(2.0f, 3.0f);
  EXPECT_EQ(m.vertices.size(), 4u);
  EXPECT_EQ(m.indices.size(), 6u);
  ExpectBounds(m, {-2, -3, 0}, {2, 3, 0});
  for (std::size_t t = 0; t < 2; ++t) {
    const Vec3 n = face_normal(m, t);
    EXPECT_GT(n[2], 0.0);  // counter-clockwise seen from +z
  }
  for (std::uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(normal(m, i), (Vec3{0, 0, 1}));
}

TEST(Plane, NonPositiveHalfSizeMeansFiftyMeters) {
  ExpectBounds(make_plane(0.0f, -1.0f), {-50, -50, 0}, {50, 50, 0});
  ExpectBounds(make_plane(4.0f, 0.0f), {-4, -50, 0}, {4, 50, 0});
}

TEST(Box, Has24VerticesAnd12TrianglesWithExactBoundsAndVolume) {
  const Mesh m = make_box(0.5f, 1.5f, 2.5f);
  EXPECT_EQ(m.vertices.size(), 24u);
  EXPECT_EQ(m.indices.size(), 36u);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-0.5, -1.5, -2.5}, {0.5, 1.5, 2.5}, 0.0);
  ExpectRelNear(signed_volume(m), 8.0 * 0.5 * 1.5 * 2.5, 1e-5);
  EXPECT_TRUE(ClosedAndConsistent(m));
}

TEST(Box, FacesPointOutwardWithFlatAxisNormals) {
  const Mesh m = make_box(0.5f, 1.5f, 2.5f);
  EXPECT_TRUE(OutwardConvex(m));
  // Every triangle's three vertices carry the same axis-aligned normal, equal to the face normal.
  for (std::size_t t = 0; t < 12; ++t) {
    const Vec3 n = face_normal(m, t);
    const Vec3 unit = {n[0] / norm(n), n[1] / norm(n), n[2] / norm(n)};
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(normal(m, m.indices[3 * t + k]), unit) << "triangle " << t;
  }
}

TEST(Sphere, BoundsVolumeAndCounts) {
  const float r = 0.7f;
  const Mesh m = make_sphere(r);
  EXPECT_TRUE(WellFormed(m));
  // Two poles and 11 rings of 24; 24 triangles per pole fan and 48 per band between rings.
  EXPECT_EQ(m.vertices.size(), 2u + 11u * 24u);
  EXPECT_EQ(m.indices.size(), 3u * (2u * 24u + 10u * 48u));
  ExpectBounds(m, {-r, -r, -r}, {r, r, r});
  const double volume = signed_volume(m);
  EXPECT_GT(volume, 0.0);
  ExpectRelNear(volume, 4.0 / 3.0 * kPi * r * r * r, 0.03);
  EXPECT_TRUE(ClosedAndConsistent(m));
}

TEST(Sphere, FacesPointOutwardAndNormalsAreRadial) {
  const float r = 0.7f;
  const Mesh m = make_sphere(r);
  EXPECT_TRUE(OutwardConvex(m));
  for (std::uint32_t i = 0; i < m.vertices.size(); ++i) {
    const Vec3 p = pos(m, i);
    const Vec3 n = normal(m, i);
    for (int d = 0; d < 3; ++d)
      ASSERT_NEAR(n[d], p[d] / r, 1e-5) << "vertex " << i;
  }
}

TEST(Sphere, TooFewSegmentsAreRaisedToAClosedMinimum) {
  const Mesh m = make_sphere(1.0f, 1, 1);
  EXPECT_TRUE(WellFormed(m));
  EXPECT_TRUE(ClosedAndConsistent(m));
  EXPECT_GT(signed_volume(m), 0.0);
}

TEST(Ellipsoid, BoundsAndVolume) {
  const float rx = 0.3f, ry = 1.2f, rz = 0.5f;
  const Mesh m = make_ellipsoid(rx, ry, rz);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-rx, -ry, -rz}, {rx, ry, rz});
  ExpectRelNear(signed_volume(m), 4.0 / 3.0 * kPi * rx * ry * rz, 0.03);
  EXPECT_TRUE(ClosedAndConsistent(m));
  EXPECT_TRUE(OutwardConvex(m));
}

TEST(Ellipsoid, NormalsAreTheImplicitSurfaceGradient) {
  // The surface is (x/rx)^2 + (y/ry)^2 + (z/rz)^2 = 1, whose normal is (x/rx^2, y/ry^2, z/rz^2):
  // what the inverse transpose of the scale gives. Scaling the sphere's normal would not.
  const float rx = 0.3f, ry = 1.2f, rz = 0.5f;
  const Mesh m = make_ellipsoid(rx, ry, rz);
  for (std::uint32_t i = 0; i < m.vertices.size(); ++i) {
    const Vec3 p = pos(m, i);
    const Vec3 g = {p[0] / (rx * rx), p[1] / (ry * ry), p[2] / (rz * rz)};
    const Vec3 n = normal(m, i);
    for (int d = 0; d < 3; ++d)
      ASSERT_NEAR(n[d], g[d] / norm(g), 1e-5) << "vertex " << i;
  }
}

TEST(Cylinder, BoundsAndVolume) {
  const float r = 0.25f, h = 0.8f;
  const Mesh m = make_cylinder(r, h);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-r, -r, -h}, {r, r, h});
  ExpectRelNear(signed_volume(m), kPi * r * r * 2.0 * h, 0.03);
  EXPECT_TRUE(ClosedAndConsistent(m));
}

TEST(Cylinder, FacesPointOutwardWithFlatCapsAndRadialSides) {
  const float r = 0.25f, h = 0.8f;
  const Mesh m = make_cylinder(r, h);
  EXPECT_TRUE(OutwardConvex(m));
  int cap_up = 0, cap_down = 0, side = 0;
  for (std::uint32_t i = 0; i < m.vertices.size(); ++i) {
    const Vec3 p = pos(m, i);
    const Vec3 n = normal(m, i);
    if (n == Vec3{0, 0, 1}) {
      EXPECT_FLOAT_EQ(static_cast<float>(p[2]), h);
      ++cap_up;
    } else if (n == Vec3{0, 0, -1}) {
      EXPECT_FLOAT_EQ(static_cast<float>(p[2]), -h);
      ++cap_down;
    } else {
      EXPECT_EQ(n[2], 0.0);
      EXPECT_NEAR(n[0], p[0] / r, 1e-5);
      EXPECT_NEAR(n[1], p[1] / r, 1e-5);
      ++side;
    }
  }
  // Each cap has a center and its own 24 rim vertices; the side has a top and bottom per slice.
  EXPECT_EQ(cap_up, 25);
  EXPECT_EQ(cap_down, 25);
  EXPECT_EQ(side, 48);
}

TEST(Capsule, SpansHalfLengthPlusRadiusAndHasTheVolume) {
  const float r = 0.2f, len = 0.6f;
  const Mesh m = make_capsule(r, len);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-r, -r, -(len + r)}, {r, r, len + r});
  ExpectRelNear(signed_volume(m), kPi * r * r * 2.0 * len + 4.0 / 3.0 * kPi * r * r * r, 0.03);
  EXPECT_TRUE(ClosedAndConsistent(m));
}

TEST(Capsule, FacesPointOutward) {
  EXPECT_TRUE(OutwardConvex(make_capsule(0.2f, 0.6f)));
  EXPECT_TRUE(OutwardConvex(make_capsule(0.5f, 0.1f, 7, 3)));
}

TEST(Capsule, ZeroHalfLengthIsAClosedSphere) {
  const float r = 0.4f;
  const Mesh m = make_capsule(r, 0.0f);
  EXPECT_TRUE(WellFormed(m));
  EXPECT_TRUE(OutwardConvex(m));  // would fail on the zero-area band triangles
  EXPECT_TRUE(ClosedAndConsistent(m));
  ExpectBounds(m, {-r, -r, -r}, {r, r, r});
  ExpectRelNear(signed_volume(m), 4.0 / 3.0 * kPi * r * r * r, 0.03);
}

TEST(Heightfield, BoundsFollowMuJoCoConventions) {
  const int nrow = 4, ncol = 6;
  std::vector<float> data(nrow * ncol, 0.25f);
  data[2 * ncol + 3] = 0.9f;
  const Mesh m = make_heightfield(nrow, ncol, data.data(), 3.0f, 1.5f, 2.0f, 0.5f);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-3.0, -1.5, -0.5}, {3.0, 1.5, 0.9 * 2.0});
  // Row-major with row 0 at y = -size_y and column 0 at x = -size_x: the raised sample is at
  // column 3 of 6 (x = -3 + 6 * 3 / 5) and row 2 of 4 (y = -1.5 + 3 * 2 / 3).
  bool found = false;
  for (const Vertex& v : m.vertices) {
    if (v.pos[2] == 0.9f * 2.0f) {
      EXPECT_NEAR(v.pos[0], 0.6, 1e-6);
      EXPECT_NEAR(v.pos[1], 0.5, 1e-6);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Heightfield, FlatFieldIsAClosedOutwardSlabWithTheVolume) {
  const int nrow = 5, ncol = 4;
  const float sx = 1.5f, sy = 0.75f;
  std::vector<float> data(nrow * ncol, 0.5f);
  const Mesh m = make_heightfield(nrow, ncol, data.data(), sx, sy, 2.0f, 1.0f);
  EXPECT_TRUE(WellFormed(m));
  ExpectBounds(m, {-sx, -sy, -1.0}, {sx, sy, 1.0});
  ExpectRelNear(signed_volume(m), 4.0 * sx * sy * (1.0 + 1.0), 1e-4);
  EXPECT_TRUE(ClosedAndConsistent(m));
  // The slab is convex around the origin, so walls, top and bottom must all face out.
  EXPECT_TRUE(OutwardConvex(m));
}

TEST(Heightfield, BumpyFieldIsClosedAndEnclosesTheSumOfItsPrisms) {
  const int nrow = 6, ncol = 9;
  const float sx = 2.0f, sy = 1.0f, sz = 0.8f, base = 0.3f;
  std::vector<float> data(nrow * ncol);
  for (int r = 0; r < nrow; ++r) {
    for (int c = 0; c < ncol; ++c)
      data[r * ncol + c] = static_cast<float>(0.5 + 0.5 * std::sin(1.3 * r + 0.7 * c));
  }
  const Mesh m = make_heightfield(nrow, ncol, data.data(), sx, sy, sz, base);
  EXPECT_TRUE(WellFormed(m));
  EXPECT_TRUE(ClosedAndConsistent(m));
  // The solid is a union of vertical prisms, one under each top triangle, each of volume (cell
  // area / 2) * (mean of its corner heights + base). Which diagonal splits a cell is an
  // implementation choice, so either split is accepted.
  const double cell = (2.0 * sx / (ncol - 1)) * (2.0 * sy / (nrow - 1));
  auto z = [&](int r, int c) { return static_cast<double>(data[r * ncol + c]) * sz + base; };
  double diag_a = 0.0, diag_b = 0.0;
  for (int r = 0; r + 1 < nrow; ++r) {
    for (int c = 0; c + 1 < ncol; ++c) {
      const double z00 = z(r, c), z01 = z(r, c + 1), z10 = z(r + 1, c), z11 = z(r + 1, c + 1);
      diag_a += cell / 2.0 * ((z00 + z01 + z11) / 3.0 + (z00 + z11 + z10) / 3.0);
      diag_b += cell / 2.0 * ((z00 + z01 + z10) / 3.0 + (z01 + z11 + z10) / 3.0);
    }
  }
  const double volume = signed_volume(m);
  EXPECT_TRUE(std::abs(volume - diag_a) < 1e-4 * diag_a ||
              std::abs(volume - diag_b) < 1e-4 * diag_b)
      << "volume " << volume << ", expected " << diag_a << " or " << diag_b;
}

TEST(Heightfield, TopNormalsFollowTheSlope) {
  // z = size_z * (c / (ncol - 1)) rises by size_z over 2 * size_x, so dz/dx = size_z / (2 size_x)
  // and the normal is (-dz/dx, 0, 1) normalised, at every top vertex, borders included.
  const int nrow = 3, ncol = 5;
  const float sx = 2.0f, sy = 1.0f, sz = 1.0f;
  std::vector<float> data(nrow * ncol);
  for (int r = 0; r < nrow; ++r) {
    for (int c = 0; c < ncol; ++c)
      data[r * ncol + c] = static_cast<float>(c) / (ncol - 1);
  }
  const Mesh m = make_heightfield(nrow, ncol, data.data(), sx, sy, sz, 0.5f);
  const double slope = sz / (2.0 * sx);
  const Vec3 expected = {-slope / std::sqrt(1 + slope * slope), 0.0,
                         1.0 / std::sqrt(1 + slope * slope)};
  int top = 0;
  for (std::uint32_t i = 0; i < m.vertices.size(); ++i) {
    const Vec3 n = normal(m, i);
    if (n[2] <= 0.0) continue;  // walls and bottom
    for (int d = 0; d < 3; ++d)
      EXPECT_NEAR(n[d], expected[d], 1e-6) << "vertex " << i;
    ++top;
  }
  EXPECT_EQ(top, nrow * ncol);
  // The top triangles face up.
  for (std::size_t t = 0; t < 2 * (nrow - 1) * (ncol - 1); ++t)
    EXPECT_GT(face_normal(m, t)[2], 0.0) << "triangle " << t;
}

TEST(Heightfield, RejectsAGridSmallerThanTwoByTwo) {
  const float data[2] = {0, 1};
  EXPECT_THROW(make_heightfield(1, 2, data, 1, 1, 1, 1), std::invalid_argument);
  EXPECT_THROW(make_heightfield(2, 1, data, 1, 1, 1, 1), std::invalid_argument);
  EXPECT_THROW(make_heightfield(2, 2, nullptr, 1, 1, 1, 1), std::invalid_argument);
}

TEST(TriangleMesh, TetrahedronHasItsVolumeAndFlatNormals) {
  const float verts[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  const int faces[] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
  const Mesh m = make_triangle_mesh(verts, 4, faces, 4);
  EXPECT_TRUE(WellFormed(m));
  EXPECT_EQ(m.vertices.size(), 12u);  // duplicated per face
  EXPECT_EQ(m.indices.size(), 12u);
  ExpectRelNear(signed_volume(m), 1.0 / 6.0, 1e-6);
  EXPECT_TRUE(ClosedAndConsistent(m));
  const double s = 1.0 / std::sqrt(3.0);
  const Vec3 expected[4] = {{0, 0, -1}, {0, -1, 0}, {-1, 0, 0}, {s, s, s}};
  for (std::size_t t = 0; t < 4; ++t) {
    for (int k = 0; k < 3; ++k) {
      const Vec3 n = normal(m, m.indices[3 * t + k]);
      for (int d = 0; d < 3; ++d)
        EXPECT_NEAR(n[d], expected[t][d], 1e-6) << "face " << t << " corner " << k;
    }
  }
}

TEST(TriangleMesh, RejectsOutOfRangeIndicesAndDropsDegenerateFaces) {
  const float verts[] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  const int bad[] = {0, 1, 3};
  EXPECT_THROW(make_triangle_mesh(verts, 3, bad, 1), std::invalid_argument);
  const int negative[] = {0, -1, 2};
  EXPECT_THROW(make_triangle_mesh(verts, 3, negative, 1), std::invalid_argument);
  const int faces[] = {0, 1, 2, 0, 1, 1};
  const Mesh m = make_triangle_mesh(verts, 3, faces, 2);
  EXPECT_EQ(m.indices.size(), 3u);
  EXPECT_TRUE(WellFormed(m));
}

TEST(Append, OffsetsIndicesAndKeepsBothShapes) {
  Mesh dst = make_box(1, 1, 1);
  const Mesh src = make_plane(2, 2);
  const std::size_t nv = dst.vertices.size(), ni = dst.indices.size();
  append(dst, src);
  ASSERT_EQ(dst.vertices.size(), nv + src.vertices.size());
  ASSERT_EQ(dst.indices.size(), ni + src.indices.size());
  for (std::size_t k = 0; k < src.indices.size(); ++k)
    EXPECT_EQ(dst.indices[ni + k], src.indices[k] + nv);
  for (std::size_t i = 0; i < src.vertices.size(); ++i)
    EXPECT_EQ(pos(dst, static_cast<std::uint32_t>(nv + i)),
              pos(src, static_cast<std::uint32_t>(i)));
  EXPECT_TRUE(WellFormed(dst));

  // Two closed shapes appended enclose the sum of their volumes.
  Mesh two = make_box(1, 1, 1);
  append(two, make_box(0.5f, 0.5f, 0.5f));
  ExpectRelNear(signed_volume(two), 8.0 + 1.0, 1e-6);

  Mesh empty;
  append(empty, src);
  EXPECT_EQ(empty.indices, src.indices);
}

TEST(SignedVolume, ReversedWindingNegatesIt) {
  Mesh m = make_box(1, 2, 3);
  for (std::size_t t = 0; t < m.indices.size(); t += 3)
    std::swap(m.indices[t + 1], m.indices[t + 2]);
  ExpectRelNear(signed_volume(m), -48.0, 1e-6);
}

TEST(SignedVolume, DoesNotDependOnWhereTheOriginIs) {
  Mesh m = make_box(1, 2, 3);
  for (Vertex& v : m.vertices) {
    v.pos[0] += 10.0f;
    v.pos[2] -= 7.0f;
  }
  ExpectRelNear(signed_volume(m), 48.0, 1e-5);
}

TEST(Bounds, EmptyMeshIsZero) {
  float mn[3] = {1, 1, 1};
  float mx[3] = {1, 1, 1};
  bounds(Mesh{}, mn, mx);
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(mn[d], 0.0f);
    EXPECT_EQ(mx[d], 0.0f);
  }
}

}  // namespace
}  // namespace simlab::engine::render
