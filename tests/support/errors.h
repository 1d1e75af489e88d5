// The message of the simlab::Error a call throws, for tests of located errors.
#pragma once

#include <functional>
#include <string>

#include "engine/core/error.h"

namespace simlab::test {

// The error `f` throws, as printed ("file:line: field: message"), or "no error".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace simlab::test
