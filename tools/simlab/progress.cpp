#include "tools/simlab/progress.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

namespace simlab::tools {

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(std::max<std::int64_t>(total, 1)),
      enabled_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  finish();
}

void Progress::update(std::int64_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(total_, true);
}

void Progress::draw(std::int64_t done, bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
  const int width = 30, filled = static_cast<int>(frac * width);
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  std::fprintf(stderr, "\r  %-28s [%.*s%*s] %3.0f%%  %9.3g %s/s  ETA %4.0fs", label_.c_str(),
               filled, "##############################", width - filled, "", 100 * frac, rate,
               unit_.c_str(), eta);
  if (final) std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace simlab::tools
