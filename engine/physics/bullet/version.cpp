#include "engine/physics/bullet/version.h"

#include <LinearMath/btScalar.h>

namespace simlab::engine::physics::bullet {
std::string version() {
  const int v = btGetVersion();
  std::string out = std::to_string(v / 100) + "." + std::to_string(v % 100);
  out += btIsDoublePrecision() ? " (double precision)" : " (single precision)";
  return out;
}
}  // namespace simlab::engine::physics::bullet
