// Filesystem queries that never throw. std::filesystem::exists(p) throws filesystem_error when
// the query itself fails (a name longer than NAME_MAX, a permission-denied parent); user-supplied
// paths reach these checks, so they answer "no" and let the caller's "no such file" error, which
// names the field, speak instead.
#pragma once

#include <filesystem>
#include <system_error>

namespace simlab::engine {

inline bool path_exists(const std::filesystem::path& p) noexcept {
  std::error_code ec;
  return std::filesystem::exists(p, ec) && !ec;
}

inline bool is_dir(const std::filesystem::path& p) noexcept {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) && !ec;
}

inline bool is_file(const std::filesystem::path& p) noexcept {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && !ec;
}

}  // namespace simlab::engine
