#include "learners/cuda_graph.h"

#include <cstdio>

#if SIMLAB_HAS_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <torch/cuda.h>
#endif

namespace simlab::learners {

struct GraphedUpdate::Impl {
#if SIMLAB_HAS_CUDA_GRAPHS
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

GraphedUpdate::GraphedUpdate(int warmup) : impl_(std::make_unique<Impl>()), warmup_(warmup) {}

GraphedUpdate::~GraphedUpdate() = default;

bool GraphedUpdate::available() {
#if SIMLAB_HAS_CUDA_GRAPHS
  return true;
#else
  return false;
#endif
}

bool GraphedUpdate::captured() const {
#if SIMLAB_HAS_CUDA_GRAPHS
  return impl_->graph != nullptr;
#else
  return false;
#endif
}

void GraphedUpdate::run(const std::function<void()>& work) {
#if SIMLAB_HAS_CUDA_GRAPHS
  if (impl_->graph) {
    impl_->graph->replay();
    return;
  }
  if (!failed_) {
    // Warm-up and capture run on a side stream, fenced by device synchronizations (only here:
    // replays queue on the current stream behind whatever wrote the graph's inputs).
    torch::cuda::synchronize();
    const auto side = c10::cuda::getStreamFromPool();
    if (calls_ < warmup_) {
      {
        c10::cuda::CUDAStreamGuard guard(side);
        work();
      }
      torch::cuda::synchronize();
      ++calls_;
      return;
    }
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      c10::cuda::CUDAStreamGuard guard(side);
      graph->capture_begin();
      work();
      graph->capture_end();
    } catch (const c10::Error& e) {
      try {
        graph->capture_end();  // ends an interrupted capture, and the allocator's capture mode
      } catch (const c10::Error&) {
      }
      failed_ = true;
      std::fprintf(stderr,
                   "simlab: warning: capturing the update as a CUDA graph failed; updates run "
                   "eagerly (slower). %s\n",
                   e.what_without_backtrace());
      torch::cuda::synchronize();
      work();  // the update the capture did not run
      return;
    }
    torch::cuda::synchronize();
    impl_->graph = std::move(graph);
    impl_->graph->replay();
    return;
  }
#endif
  work();
}

}  // namespace simlab::learners
