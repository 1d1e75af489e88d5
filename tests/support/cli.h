// Running the simlab binary (SIMLAB_BIN, set by CMake) as a user would, for the CLI tests.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace simlab::test {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

// A shell command line, its exit code and everything it printed.
inline Result shell(const std::string& cmd) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), pipe))
    out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

#ifdef SIMLAB_BIN
// simlab with `args`; `prefix` goes before the binary (environment variables).
inline Result run(const std::string& args, const std::string& prefix = "") {
  return shell(prefix + std::string(SIMLAB_BIN) + " " + args);
}
#endif

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace simlab::test
