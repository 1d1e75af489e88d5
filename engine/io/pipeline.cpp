#include "engine/io/pipeline.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace simlab::engine::io {

void EpisodeQueue::push(std::unique_ptr<Episode> episode) {
  const std::size_t bytes = episode->bytes();
  std::unique_lock lock(mutex_);
  if (!error_ && !items_.empty() && bytes_ + bytes > max_bytes_) {
    const auto start = std::chrono::steady_clock::now();
    cv_.wait(lock, [&] { return error_ || items_.empty() || bytes_ + bytes <= max_bytes_; });
    blocked_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (error_) std::rethrow_exception(error_);
  bytes_ += bytes;
  peak_ = std::max(peak_, bytes_);
  items_.push_back(std::move(episode));
  cv_.notify_all();
}

std::unique_ptr<Episode> EpisodeQueue::pop() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
  if (items_.empty()) return nullptr;
  auto episode = std::move(items_.front());
  items_.pop_front();
  bytes_ -= episode->bytes();
  cv_.notify_all();
  return episode;
}

void EpisodeQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  cv_.notify_all();
}

void EpisodeQueue::fail(std::exception_ptr why) {
  std::lock_guard lock(mutex_);
  error_ = why;
  closed_ = true;
  items_.clear();
  bytes_ = 0;
  cv_.notify_all();
}

std::size_t EpisodeQueue::peak_bytes() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

double EpisodeQueue::blocked_seconds() const {
  std::lock_guard lock(mutex_);
  return blocked_;
}

BackgroundWriter::BackgroundWriter(std::size_t max_bytes, Sink sink)
    : queue_(max_bytes), sink_(std::move(sink)) {
  thread_ = std::thread([this] {
    try {
      while (auto episode = queue_.pop()) {
        const auto start = std::chrono::steady_clock::now();
        sink_(std::move(episode));
        busy_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    } catch (...) {
      error_ = std::current_exception();
      queue_.fail(error_);
    }
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    cpu_ = static_cast<double>(cpu.tv_sec) + 1e-9 * static_cast<double>(cpu.tv_nsec);
  });
}

BackgroundWriter::~BackgroundWriter() {
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

void BackgroundWriter::finish() {
  queue_.close();
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
}

}  // namespace simlab::engine::io
