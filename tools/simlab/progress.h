// A one-line progress bar on stderr with rate and ETA, drawn only when stderr is a terminal
// (logs and CI stay clean), at most 10 times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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

// A progress callback (app::GenProgress's shape) that draws this bar, made at the first call,
// when the total is known.
inline std::function<void(std::int64_t, std::int64_t, const char*, bool)> progress_bar(
    std::string label) {
  auto bar = std::make_shared<std::unique_ptr<Progress>>();
  return [bar, label = std::move(label)](std::int64_t done, std::int64_t total, const char* unit,
                                         bool final) {
    if (!*bar) *bar = std::make_unique<Progress>(label, total, unit);
    if (final) {
      (*bar)->finish();
    } else {
      (*bar)->update(done);
    }
  };
}

}  // namespace simlab::tools
