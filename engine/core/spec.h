// Observation and action specs: a flat float32 vector described element by element (a name and
// bounds per element) and by named groups of consecutive elements ("qpos", "qvel", "sensor/imu").
// Learners, datasets and exported policies carry these so that the contract between the simulator
// and a policy is explicit.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace simlab::engine {

struct SpaceGroup {
  std::string name;
  int offset = 0;
  int size = 0;
};

class Space {
 public:
  // Append a group of `size` elements named "group/element_names[i]" (or "group/i").
  void add_group(const std::string& group, int size, const std::vector<std::string>& element_names,
                 float low = -std::numeric_limits<float>::infinity(),
                 float high = std::numeric_limits<float>::infinity());

  int dim() const { return static_cast<int>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<float>& low() const { return low_; }
  const std::vector<float>& high() const { return high_; }
  const std::vector<SpaceGroup>& groups() const { return groups_; }
  const SpaceGroup* find_group(const std::string& name) const;

  float& low(int i) { return low_[i]; }
  float& high(int i) { return high_[i]; }

  // Index of the first element that is NaN/Inf, if any.
  static std::optional<int> first_non_finite(std::span<const float> values);

 private:
  std::vector<std::string> names_;
  std::vector<float> low_;
  std::vector<float> high_;
  std::vector<SpaceGroup> groups_;
};

}  // namespace simlab::engine
