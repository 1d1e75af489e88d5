// Whole updates as CUDA graphs. A learner's update on small networks is thousands of tiny kernels;
// launched one by one from the host, the GPU waits on the launches. Captured once into a CUDA graph
// (at::cuda::CUDAGraph), the same kernels replay with one launch.
//
//   run(work): calls 1..warmup   work() eagerly on a side stream (allocator and library handles
//                                settle, as capture needs)
//              call warmup + 1   work() captured on a side stream (nothing executes), then replayed
//              later calls       replay only: work() is not called again
//
// `work` must queue a fixed sequence of device work: no host synchronization (.item(), printing a
// tensor), no host-side state that changes between calls, static shapes, inputs read from and
// results written to tensors that outlive the graph. Where LibTorch has no CUDA graphs, or when
// capture fails (a warning, once), every call runs work() eagerly.
#pragma once

#include <functional>
#include <memory>

namespace simlab::learners {

class GraphedUpdate {
 public:
  explicit GraphedUpdate(int warmup = 3);
  ~GraphedUpdate();
  GraphedUpdate(const GraphedUpdate&) = delete;
  GraphedUpdate& operator=(const GraphedUpdate&) = delete;

  void run(const std::function<void()>& work);
  bool captured() const;

  // Whether this build can capture at all (LibTorch with CUDA graphs).
  static bool available();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int warmup_, calls_ = 0;
  bool failed_ = false;
};

}  // namespace simlab::learners
