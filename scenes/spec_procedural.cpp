// [procedural]: the spec of what each structural variant generates (objects, terrain, lights).
#include <cmath>
#include <cstddef>
#include <string>
#include <toml++/toml.h>
#include <tuple>
#include <utility>

#include "scenes/procedural.h"
#include "scenes/spec_reader.h"
#include "scenes/spec_sections.h"

namespace simlab::scenes::detail {

ProceduralSpec read_procedural(const Reader& root) {
  ProceduralSpec p;
  const toml::table* table = root.table("procedural");
  if (!table) return p;
  Reader r(root.file(), *table, "procedural.");
  p.where = root.where("procedural");
  r.only({"variants", "objects", "terrain", "lights"});
  p.variants = r.integer("variants", 1);
  if (p.variants < 1 || p.variants > 100000)
    throw Error(r.where("variants"), "must be in [1, 100000], got " + std::to_string(p.variants));
  r.each("objects", [&](const Reader& o, std::size_t i) {
    o.only({"name", "count", "shapes", "size", "mass", "region", "z", "spacing", "friction",
            "contype", "conaffinity"});
    ObjectSpec spec;
    spec.where = o.where("count");
    spec.name = o.text("name", "object" + std::string(i == 0 ? "" : std::to_string(i)));
    const auto count = o.range("count", {1, 1});
    // Checked before the casts (1e300 or nan is no int), and bounded: every object is a body.
    if (!(count.first >= 0 && count.second <= 1000) || count.first != std::floor(count.first) ||
        count.second != std::floor(count.second))
      throw Error(o.where("count"), "expected whole numbers in [0, 1000]");
    spec.count_min = static_cast<int>(count.first);
    spec.count_max = static_cast<int>(count.second);
    spec.shapes = o.names("shapes", spec.shapes);
    for (const auto& shape : spec.shapes)
      pick<int>({{"box", 0}, {"sphere", 1}, {"cylinder", 2}, {"capsule", 3}}, shape,
                o.where("shapes"), "shape");
    if (spec.shapes.empty()) throw Error(o.where("shapes"), "needs at least one shape");
    std::tie(spec.size_min, spec.size_max) = o.range("size", {spec.size_min, spec.size_max});
    if (spec.size_min <= 0) throw Error(o.where("size"), "sizes must be > 0");
    std::tie(spec.mass_min, spec.mass_max) = o.range("mass", {spec.mass_min, spec.mass_max});
    if (spec.mass_min <= 0) throw Error(o.where("mass"), "a mass must be > 0");
    if (o.has("region")) {
      const toml::array* region = o.array("region");
      if (!region || region->size() != 4)
        throw Error(o.where("region"), "expected [x_min, y_min, x_max, y_max]");
      for (std::size_t k = 0; k < 4; ++k) {
        auto v = (*region)[k].value<double>();
        if (!v) throw Error(o.where("region"), "expected [x_min, y_min, x_max, y_max] (numbers)");
        spec.region[k] = *v;
      }
      if (spec.region[0] >= spec.region[2] || spec.region[1] >= spec.region[3])
        throw Error(o.where("region"), "x_min must be < x_max and y_min < y_max");
    }
    spec.z = o.number("z", spec.z);
    spec.spacing = o.number("spacing", spec.spacing);
    spec.friction = o.number("friction", spec.friction);
    spec.contype = o.integer("contype", spec.contype);
    spec.conaffinity = o.integer("conaffinity", spec.conaffinity);
    if (spec.spacing < 0) throw Error(o.where("spacing"), "must be >= 0");
    if (spec.friction < 0) throw Error(o.where("friction"), "must be >= 0");
    p.objects.push_back(std::move(spec));
  });
  if (const toml::table* terrain = r.table("terrain")) {
    Reader t(root.file(), *terrain, "procedural.terrain.");
    t.only({"kinds", "difficulty", "half_size", "resolution", "max_height", "flat_radius"});
    auto& spec = p.terrain;
    spec.where = r.where("terrain");
    spec.kinds = t.names("kinds", {"rough"});
    for (const auto& kind : spec.kinds)
      pick<int>({{"flat", 0}, {"rough", 1}, {"slopes", 2}, {"stairs", 3}}, kind, t.where("kinds"),
                "terrain kind");
    std::tie(spec.difficulty_min, spec.difficulty_max) =
        t.range("difficulty", {spec.difficulty_min, spec.difficulty_max});
    if (spec.difficulty_min < 0 || spec.difficulty_max > 1)
      throw Error(t.where("difficulty"), "must be within [0, 1]");
    spec.half_size = t.number("half_size", spec.half_size);
    spec.resolution = t.number("resolution", spec.resolution);
    spec.max_height = t.number("max_height", spec.max_height);
    spec.flat_radius = t.number("flat_radius", spec.flat_radius);
    if (spec.half_size <= 0) throw Error(t.where("half_size"), "must be > 0");
    if (spec.resolution <= 0 || 2 * spec.half_size / spec.resolution > 1000)
      throw Error(t.where("resolution"), "must be > 0, with at most 1000 cells per side");
    if (spec.max_height <= 0) throw Error(t.where("max_height"), "must be > 0");
  }
  if (const toml::table* lights = r.table("lights")) {
    Reader l(root.file(), *lights, "procedural.lights.");
    l.only({"count", "height", "diffuse"});
    auto& spec = p.lights;
    spec.where = r.where("lights");
    const auto count = l.range("count", {1, 1});
    if (!(count.first >= 0 && count.second <= 8))  // before the casts: nan, 1e300 are no ints
      throw Error(l.where("count"), "must be within [0, 8]");
    spec.count_min = static_cast<int>(count.first);
    spec.count_max = static_cast<int>(count.second);
    std::tie(spec.height_min, spec.height_max) =
        l.range("height", {spec.height_min, spec.height_max});
    std::tie(spec.diffuse_min, spec.diffuse_max) =
        l.range("diffuse", {spec.diffuse_min, spec.diffuse_max});
  }
  return p;
}

}  // namespace simlab::scenes::detail
