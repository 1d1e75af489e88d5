#include "engine/core/spec.h"

#include <cmath>

#include "engine/core/error.h"

namespace simlab::engine {

void Space::add_group(const std::string& group, int size,
                      const std::vector<std::string>& element_names, float low, float high) {
  SIMLAB_CHECK(size >= 0) << "group " << group << " has size " << size;
  SIMLAB_CHECK(element_names.empty() || static_cast<int>(element_names.size()) == size)
      << "group " << group << ": " << element_names.size() << " names for " << size << " elements";
  groups_.push_back({group, dim(), size});
  for (int i = 0; i < size; ++i) {
    const bool named = !element_names.empty() && !element_names[i].empty();
    names_.push_back(group + "/" + (named ? element_names[i] : std::to_string(i)));
    low_.push_back(low);
    high_.push_back(high);
  }
}

const SpaceGroup* Space::find_group(const std::string& name) const {
  for (const auto& g : groups_)
    if (g.name == name) return &g;
  return nullptr;
}

std::optional<int> Space::first_non_finite(std::span<const float> values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return static_cast<int>(i);
  return std::nullopt;
}

}  // namespace simlab::engine
