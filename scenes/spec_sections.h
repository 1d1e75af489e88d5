// Internal to scenes/: the readers of a spec's larger sections, each in its own file, that
// parse_scene (spec_sections.cpp) calls in order.
#pragma once

#include <vector>

#include "scenes/procedural.h"
#include "scenes/scene.h"
#include "scenes/spec_reader.h"

namespace simlab::scenes::detail {

// [[randomize]]: one table per term, checked against the parameter table (spec_randomize.cpp).
std::vector<RandomizeSpec> read_randomize(const Reader& root);

// [procedural]: variants, [[procedural.objects]], [procedural.terrain], [procedural.lights]
// (spec_procedural.cpp).
ProceduralSpec read_procedural(const Reader& root);

}  // namespace simlab::scenes::detail
