// The writer runs on its own thread beside the simulation, with bounded memory:
//
//   simulation --push(episode)--> EpisodeQueue (at most max_bytes of episodes) --> writer thread
//              blocks while full                                                    --> sink
//              (back-pressure)                                                      (HDF5 files)
//
// A failure in the sink (a full disk) is handed back: the next push(), and finish(), throw it on
// the simulation's thread, so the run stops with the writer's own message.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/io/dataset.h"

namespace simlab::engine::io {

class EpisodeQueue {
 public:
  explicit EpisodeQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Blocks while the queue holds episodes and this one would take it past max_bytes (an episode
  // larger than max_bytes alone still goes in). Throws the consumer's error if it failed.
  void push(std::unique_ptr<Episode> episode);
  // The next episode; blocks until there is one; null once closed and empty.
  std::unique_ptr<Episode> pop();
  void close();                       // no more pushes: pop() drains, then returns null
  void fail(std::exception_ptr why);  // the consumer stopped: pushers throw `why`

  std::size_t peak_bytes() const;
  double blocked_seconds() const;  // producers' time waiting for room (back-pressure)

 private:
  std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Episode>> items_;
  std::size_t bytes_ = 0, peak_ = 0;
  double blocked_ = 0;
  bool closed_ = false;
  std::exception_ptr error_;
};

class BackgroundWriter {
 public:
  using Sink = std::function<void(std::unique_ptr<Episode>)>;
  // Starts the writer thread, which hands each episode to `sink` in arrival order.
  BackgroundWriter(std::size_t max_bytes, Sink sink);
  ~BackgroundWriter();  // finishes; errors are dropped here (call finish() to see them)
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void push(std::unique_ptr<Episode> episode) { queue_.push(std::move(episode)); }
  // Write what is queued, stop the thread, and rethrow the sink's error if it failed.
  void finish();

  const EpisodeQueue& queue() const { return queue_; }
  double busy_seconds() const { return busy_; }  // time the sink spent writing
  double cpu_seconds() const { return cpu_; }    // CPU time of the writer thread (after finish)

 private:
  EpisodeQueue queue_;
  Sink sink_;
  std::exception_ptr error_;
  double busy_ = 0, cpu_ = 0;
  std::thread thread_;
};

}  // namespace simlab::engine::io
