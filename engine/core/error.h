// Errors in simlab come in three kinds, each with its own treatment:
//   1. Bad user input (a model file, a spec, a CLI value): throw simlab::Error carrying where it
//      came from (file:line:column and the field or key path). It is caught once, at the CLI
//      boundary, printed, and the process exits with code 2.
//   2. Programmer bugs: SIMLAB_CHECK(cond) << "message". The check stays in release builds and
//      throws std::logic_error naming the source line.
//   3. Numerical trouble inside a step (NaN, explosion): never an exception; the env is reset and a
//      per-env counter goes up (see engine/vector_env.h).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace simlab {

// Where a piece of bad input came from. Line and column are 1-based; 0 means unknown.
struct SourceLocation {
  std::string file;  // path, or a "<string>" style name for in-memory sources
  int line = 0;
  int column = 0;
  std::string field;  // dotted key path or field name, e.g. "actions" or "randomize.mass.range"

  // "file:line:column: field" with the unknown parts left out.
  std::string str() const;
};

class Error : public std::runtime_error {
 public:
  Error(SourceLocation where, const std::string& message);
  explicit Error(const std::string& message) : Error(SourceLocation{}, message) {}

  const SourceLocation& where() const { return where_; }
  // The message without the location prefix.
  const std::string& message() const { return message_; }

 private:
  SourceLocation where_;
  std::string message_;
};

namespace detail {
// Collects the streamed message of a failed SIMLAB_CHECK and throws when it goes out of scope.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure() noexcept(false);
  template <class T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace simlab

// A check for programmer errors that stays in release builds: SIMLAB_CHECK(n > 0) << "n=" << n;
#define SIMLAB_CHECK(condition) \
  if (condition) {              \
  } else                        \
    ::simlab::detail::CheckFailure(__FILE__, __LINE__, #condition)
