// Procedural content: each structural variant of a scene is the robot's model plus objects,
// terrain and lights generated from (seed, variant), so thousands of envs can differ in structure
// and still reproduce exactly:
//
//   ProceduralSpec + base MJCF text --generate(seed, v)--> GeneratedVariant (MJCF text with the
//   generated bodies spliced into its worldbody, plus heightfield elevations, which MJCF in
//   MuJoCo 2.2.2 cannot hold inline) --engine::physics::load_model--> the variant's Model
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/physics/backend.h"

namespace simlab::scenes {

// [[procedural.objects]]: free bodies NAME0..NAME{n-1}, n drawn per variant from [count_min,
// count_max], each a primitive of random shape, size, mass and colour, placed without overlap in
// an xy region, resting on the surface at height z.
struct ObjectSpec {
  std::string name = "object";
  int count_min = 1, count_max = 1;
  std::vector<std::string> shapes = {"box"};  // box, sphere, cylinder, capsule
  double size_min = 0.02, size_max = 0.04;    // half-extent or radius (m)
  double mass_min = 0.1, mass_max = 0.3;      // kg
  double region[4] = {-0.5, -0.5, 0.5, 0.5};  // x_min, y_min, x_max, y_max (m)
  double z = 0;                               // surface height (m)
  double spacing = 0.01;                      // free gap between objects (m)
  double friction = 0.8;
  int contype = 1, conaffinity = 1;  // MuJoCo collision bits
  SourceLocation where;
};

// [procedural.terrain]: one heightfield per variant, of a kind picked from `kinds`, with a
// difficulty drawn from [difficulty_min, difficulty_max]: rough (noise amplitude), slopes
// (pyramid steepness), stairs (step height), flat. A square around the origin stays flat so a
// robot can start there.
struct TerrainSpec {
  std::vector<std::string> kinds;  // empty: no terrain
  double difficulty_min = 0, difficulty_max = 1;
  double half_size = 4;       // the terrain covers [-half_size, half_size]^2 (m)
  double resolution = 0.1;    // m per cell
  double max_height = 0.3;    // height at difficulty 1 (m)
  double flat_radius = 0.75;  // flat spawn square half-width (m)
  SourceLocation where;
};

// [procedural.lights]: a count of point lights with random position and intensity.
struct LightSpec {
  int count_min = 0, count_max = 0;
  double height_min = 2, height_max = 4;        // m above the origin
  double diffuse_min = 0.3, diffuse_max = 0.8;  // grey intensity
  SourceLocation where;
};

struct ProceduralSpec {
  int variants = 1;  // distinct structures; env i runs variant i % variants
  std::vector<ObjectSpec> objects;
  TerrainSpec terrain;
  LightSpec lights;
  SourceLocation where;
  bool empty() const { return objects.empty() && terrain.kinds.empty() && lights.count_max == 0; }
};

struct GeneratedVariant {
  std::string mjcf;  // the base model with the generated content
  std::vector<engine::physics::HeightField> heightfields;
  std::string summary;  // one line: "3 objects (box, sphere, box), rough terrain 0.42, 2 lights"
};

// Generate variant `v` of a scene from its base model text. Content that cannot be generated
// (objects that do not fit their region) is reported naming the spec's key.
GeneratedVariant generate_variant(const ProceduralSpec& spec, const std::string& base_mjcf,
                                  std::uint64_t seed, int v);

}  // namespace simlab::scenes
