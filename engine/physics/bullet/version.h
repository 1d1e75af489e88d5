#pragma once
#include <string>
namespace simlab::engine::physics::bullet {
// The Bullet3 version linked in, e.g. "3.24 (double precision)".
std::string version();
}  // namespace simlab::engine::physics::bullet
