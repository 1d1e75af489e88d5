// A one-line progress bar on stderr with rate and ETA, drawn only when stderr is a terminal
// (logs and CI stay clean), at most 10 times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace simlab::tools {

class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit = "steps");
  ~Progress();
  void update(std::int64_t done);
  void finish();

 private:
  void draw(std::int64_t done, bool final);
  std::string label_, unit_;
  std::int64_t total_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace simlab::tools
