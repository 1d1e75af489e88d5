#include "engine/core/error.h"

namespace simlab {

std::string SourceLocation::str() const {
  std::string out = file;
  if (!file.empty() && line > 0) {
    out.append(":").append(std::to_string(line));
    if (column > 0) out.append(":").append(std::to_string(column));
  }
  if (!field.empty()) {
    if (!out.empty()) out.append(": ");
    out.append(field);
  }
  return out;
}

namespace {
std::string with_location(const SourceLocation& where, const std::string& message) {
  const std::string prefix = where.str();
  return prefix.empty() ? message : prefix + ": " + message;
}
}  // namespace

Error::Error(SourceLocation where, const std::string& message)
    : std::runtime_error(with_location(where, message)),
      where_(std::move(where)),
      message_(message) {}

namespace detail {
CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": internal check failed: " << condition << ". ";
}
CheckFailure::~CheckFailure() noexcept(false) {
  throw std::logic_error(stream_.str());
}
}  // namespace detail

}  // namespace simlab
