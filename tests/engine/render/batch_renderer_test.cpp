// The batch renderer against geometry we can compute by hand: projection, depth, segmentation,
// batch-equals-one-by-one, and per-env colours. Runs on whatever Vulkan device is present
// (Mesa's lavapipe in CI).
#include "engine/render/batch_renderer.h"

#include <cmath>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "engine/physics/backend.h"

namespace simlab::engine::render {
namespace {

using physics::load_model;
using physics::ModelSource;
using physics::Quantity;

// A sphere of radius 0.1 hanging at (0.4, 0, 0.8) above a floor, seen by nothing else.
constexpr const char* kSphereXml = R"(
<mujoco>
  <option gravity="0 0 0"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1" pos="0 0 0" rgba="0.3 0.3 0.3 1"/>
    <body name="ball" pos="0.4 0 0.8">
      <geom name="ball" type="sphere" size="0.1" rgba="1 0 0 1"/>
    </body>
  </worldbody>
</mujoco>)";

struct Pixel {
  double u, v, depth;
};

// Where a world point lands, by the pinhole model written out independently of the renderer.
Pixel project(const Camera& cam, const double p[3], int w, int h) {
  double d[3], c[3];
  for (int k = 0; k < 3; ++k)
    d[k] = p[k] - cam.pos[k];
  for (int a = 0; a < 3; ++a)  // camera axis a is column a of its rotation
    c[a] = d[0] * cam.mat[a] + d[1] * cam.mat[3 + a] + d[2] * cam.mat[6 + a];
  const double f = (h / 2.0) / std::tan(cam.fovy_deg * M_PI / 360.0);
  return {w / 2.0 + f * c[0] / -c[2], h / 2.0 - f * c[1] / -c[2], -c[2]};
}

TEST(BatchRenderer, SphereLandsOnThePredictedPixelWithItsDepthAndId) {
  auto model = load_model(ModelSource::string(kSphereXml));
  auto world = model->make_world();
  const int w = 96, h = 64;
  BatchRenderer renderer({model}, {.width = w, .height = h});
  const float eye[3] = {0.1f, -2.0f, 1.0f}, target[3] = {0.3f, 0.0f, 0.7f};
  const Camera cam = look_at(eye, target, 40);
  const physics::World* worlds[] = {world.get()};
  const int variants[] = {0};
  renderer.render(worlds, variants, std::span(&cam, 1));

  const double centre[3] = {0.4, 0, 0.8};
  const Pixel p = project(cam, centre, w, h);
  // The centroid of the sphere's segmentation pixels is the projected centre.
  double su = 0, sv = 0;
  int count = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (renderer.segmentation()[y * w + x] == 1) su += x + 0.5, sv += y + 0.5, ++count;
  ASSERT_GT(count, 20);
  EXPECT_NEAR(su / count, p.u, 0.5);
  EXPECT_NEAR(sv / count, p.v, 0.5);
  // Depth at the centre pixel: the sphere's front, about one radius before its centre.
  const int cx = static_cast<int>(p.u), cy = static_cast<int>(p.v);
  EXPECT_NEAR(renderer.depth()[cy * w + cx], p.depth - 0.1, 0.01);
  // It is red where it is lit; the floor is grey; the corner above the horizon is sky.
  const auto* rgb = &renderer.rgb()[(cy * w + cx) * 3];
  EXPECT_GT(rgb[0], 2 * std::max<int>(rgb[1], 1));
  EXPECT_EQ(renderer.segmentation()[(h - 1) * w + w / 2], 0);  // floor at the bottom
  EXPECT_EQ(renderer.segmentation()[0], -1);
  EXPECT_FLOAT_EQ(renderer.depth()[0], 50.0f);  // nothing hit: zfar
}

TEST(BatchRenderer, DepthOfAPlaneIsTheAnalyticDistance) {
  auto model = load_model(ModelSource::string(kSphereXml));
  auto world = model->make_world();
  const int w = 64, h = 64;
  BatchRenderer renderer({model}, {.width = w, .height = h});
  // Straight down from 2 m: every floor pixel's depth along the axis is 2 m.
  const float eye[3] = {-2.0f, 2.0f, 2.0f}, target[3] = {-2.0f, 2.0f, 0.0f};
  const Camera cam = look_at(eye, target, 60);
  const physics::World* worlds[] = {world.get()};
  const int variants[] = {0};
  renderer.render(worlds, variants, std::span(&cam, 1));
  for (int i : {0, 17 * w + 40, 32 * w + 32, w * h - 1})
    EXPECT_NEAR(renderer.depth()[i], 2.0f, 1e-3) << i;
}

TEST(BatchRenderer, ABatchEqualsRenderingEachEnvAlone) {
  auto model = load_model(
      ModelSource::file(std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/cartpole.xml"));
  std::vector<std::unique_ptr<physics::World>> worlds;
  std::vector<const physics::World*> ptrs;
  for (int i = 0; i < 5; ++i) {
    worlds.push_back(model->make_world());
    const double q[] = {0.3 * i - 0.6, 0.5 * i};
    worlds.back()->write(Quantity::kJointPos, 0, std::span(q, 1));
    worlds.back()->write(Quantity::kJointPos, 1, std::span(q + 1, 1));
    worlds.back()->forward();
    ptrs.push_back(worlds.back().get());
  }
  const Camera cam = default_camera(model->visual());
  std::vector<Camera> cams(5, cam);
  std::vector<int> variants(5, 0);
  BatchRenderer batch({model}, {.width = 48, .height = 40});
  batch.render(ptrs, variants, cams);
  const std::size_t per = 48 * 40;
  std::set<std::string> distinct;  // images as byte strings (GCC 12 warns falsely on byte vectors)
  for (int i = 0; i < 5; ++i) {
    BatchRenderer one({model}, {.width = 48, .height = 40});
    one.render(std::span(&ptrs[i], 1), std::span(&variants[i], 1), std::span(&cams[i], 1));
    // Ids match exactly; colours to within one level and depth to 1e-4 (relative), because a
    // tile's place in the atlas shifts the rasterizer's float rounding of interpolated values.
    int worst = 0;
    for (std::size_t k = 0; k < per * 3; ++k)
      worst = std::max(worst, std::abs(one.rgb()[k] - batch.rgb()[i * per * 3 + k]));
    EXPECT_LE(worst, 1) << "env " << i;
    for (std::size_t k = 0; k < per; ++k)
      ASSERT_NEAR(one.depth()[k], batch.depth()[i * per + k], 1e-4f * one.depth()[k]) << k;
    EXPECT_TRUE(std::equal(one.segmentation().begin(), one.segmentation().end(),
                           batch.segmentation().begin() + i * per));
    distinct.emplace(one.rgb().begin(), one.rgb().end());
  }
  EXPECT_EQ(distinct.size(), 5u) << "different states must look different";
  // Segmentation ids are geom indices of the model.
  std::set<int> ids(batch.segmentation().begin(), batch.segmentation().end());
  for (int id : ids) {
    EXPECT_GE(id, -1);
    EXPECT_LT(id, model->info().ngeom);
  }
  EXPECT_GE(ids.size(), 3u);  // background, and at least the floor and the pole
}

TEST(BatchRenderer, PerEnvColoursShow) {
  auto model = load_model(ModelSource::string(kSphereXml));
  auto red = model->make_world(), blue = model->make_world();
  blue->set_param(physics::Param::kGeomR, 1, 0.0);
  blue->set_param(physics::Param::kGeomB, 1, 1.0);
  const float eye[3] = {0.4f, -1.0f, 0.9f}, ball[3] = {0.4f, 0.0f, 0.8f};
  const Camera cam = look_at(eye, ball, 45);
  const physics::World* worlds[] = {red.get(), blue.get()};
  const int variants[] = {0, 0};
  const Camera cams[] = {cam, cam};
  BatchRenderer renderer({model}, {.width = 32, .height = 32});
  renderer.render(worlds, variants, cams);
  int red_pixels = 0, blue_pixels = 0;
  for (int i = 0; i < 32 * 32; ++i) {
    if (renderer.segmentation()[i] == 1 && renderer.rgb()[3 * i] > renderer.rgb()[3 * i + 2])
      ++red_pixels;
    const int j = 32 * 32 + i;
    if (renderer.segmentation()[j] == 1 && renderer.rgb()[3 * j + 2] > renderer.rgb()[3 * j])
      ++blue_pixels;
  }
  EXPECT_GT(red_pixels, 50);
  EXPECT_EQ(red_pixels, blue_pixels);  // same shape, other colour
}

// A floor with a red/blue 2D checker under a camera looking straight down. MuJoCo's builtin checker
// is 2 x 2 squares, repeated twice per metre (texuniform): squares of 0.25 m.
constexpr const char* kCheckerXml = R"(
<mujoco>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="64" height="64" rgb1="1 0 0"
             rgb2="0 0 1"/>
    <material name="grid" texture="grid" texrepeat="2 2" texuniform="true"/>
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1" material="grid"/>
  </worldbody>
</mujoco>)";

TEST(BatchRenderer, TexturesMapOntoTheirGeoms) {
  auto model = load_model(ModelSource::string(kCheckerXml));
  ASSERT_EQ(model->visual().textures.size(), 1u);
  EXPECT_EQ(model->visual().geoms[0].texture, 0);
  auto world = model->make_world();
  const int n = 64;
  BatchRenderer renderer({model}, {.width = n, .height = n});
  // 2 m wide at the floor: 8 squares of 0.25 m (8 pixels) across.
  const float eye[3] = {0.01f, 0.01f, 1.0f / std::tan(22.5f * 3.14159265f / 180)},
              target[3] = {0.01f, 0.01f, 0};
  const Camera cam = look_at(eye, target, 45);
  const physics::World* worlds[] = {world.get()};
  const int variants[] = {0};
  renderer.render(worlds, variants, std::span(&cam, 1));
  int red = 0, blue = 0, flips = 0;
  bool last_red = false;
  for (int x = 0; x < n; ++x) {  // along the middle row
    const auto* px = &renderer.rgb()[(n / 2 * n + x) * 3];
    const bool is_red = px[0] > 3 * std::max<int>(px[2], 1);
    const bool is_blue = px[2] > 3 * std::max<int>(px[0], 1);
    red += is_red, blue += is_blue;
    if (x > 0 && is_red != last_red) ++flips;
    last_red = is_red;
  }
  EXPECT_EQ(red + blue, n);  // every pixel is one of the two colours
  EXPECT_NEAR(red, n / 2, 4);
  EXPECT_GE(flips, 7);  // eight squares across: seven edges, eight if one lands on the border
  EXPECT_LE(flips, 8);
}

TEST(BatchRenderer, DeviceLocalGeometryRendersTheSameImages) {
  // The GPU path (geometry and textures copied to device-local memory), forced on any device.
  auto model = load_model(ModelSource::string(kCheckerXml));
  auto world = model->make_world();
  const float eye[3] = {0.5f, -1.5f, 1.0f}, target[3] = {0, 0, 0};
  const Camera cam = look_at(eye, target, 45);
  const physics::World* worlds[] = {world.get()};
  const int variants[] = {0};
  using Memory = RenderConfig::StaticMemory;
  BatchRenderer host({model}, {.width = 48, .height = 32, .static_memory = Memory::kHost});
  BatchRenderer device({model}, {.width = 48, .height = 32, .static_memory = Memory::kDevice});
  host.render(worlds, variants, std::span(&cam, 1));
  device.render(worlds, variants, std::span(&cam, 1));
  EXPECT_EQ(host.rgb(), device.rgb());
  EXPECT_EQ(host.segmentation(), device.segmentation());
  EXPECT_EQ(host.depth(), device.depth());
}

// A ball lit only by the model's own light, which randomization may move, dim or recolour.
constexpr const char* kLitXml = R"(
<mujoco>
  <worldbody>
    <light name="sun" pos="0 0 3" dir="0 0 -1" directional="true" diffuse="0.7 0.7 0.7"/>
    <geom name="ball" type="sphere" size="0.3" rgba="1 1 1 1"/>
  </worldbody>
</mujoco>)";

TEST(BatchRenderer, TheModelsLightsLightEachEnv) {
  auto model = load_model(ModelSource::string(kLitXml));
  EXPECT_EQ(model->visual().lights, 1);
  auto lit = model->make_world(), dark = model->make_world();
  dark->set_param(physics::Param::kLightDiffuse, 0, 0.0);
  const float eye[3] = {0, -0.5f, 2}, target[3] = {0, 0, 0};
  const Camera cam = look_at(eye, target, 45);
  const physics::World* worlds[] = {lit.get(), dark.get()};
  const int variants[] = {0, 0};
  const Camera cams[] = {cam, cam};
  BatchRenderer renderer({model}, {.width = 32, .height = 32});
  renderer.render(worlds, variants, cams);
  // The ball's top faces the light: 0.3 ambient + 0.7 diffuse on white; without the light's
  // diffuse only the ambient part is left.
  const int centre = 16 * 32 + 16;
  ASSERT_EQ(renderer.segmentation()[centre], 0);
  const int lit_value = renderer.rgb()[3 * centre],
            dark_value = renderer.rgb()[(32 * 32 + centre) * 3];
  EXPECT_GT(lit_value, 220);
  EXPECT_NEAR(dark_value, 0.3 * 255, 3);
}

}  // namespace
}  // namespace simlab::engine::render
