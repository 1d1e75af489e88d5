#include "learners/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include "engine/core/error.h"

namespace simlab::learners {
namespace {

// OpenBLAS's C API, looked up in the process (libtorch links the system BLAS, which may or may
// not be OpenBLAS): no link-time dependency.
template <typename F>
F* openblas(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void set_compute_threads(int threads) {
  SIMLAB_CHECK(threads >= 1) << "set_compute_threads needs >= 1 thread";
  at::set_num_threads(threads);
  static bool interop_set = false;
  if (!interop_set) {
    interop_set = true;
    try {
      at::set_num_interop_threads(threads);
    } catch (const c10::Error&) {
      // Already started (something ran inter-op work first): it keeps its size.
    }
  }
  if (auto* set = openblas<void(int)>("openblas_set_num_threads")) set(threads);
}

BlasInfo blas_info() {
  BlasInfo info;
  if (auto* config = openblas<char*()>("openblas_get_config")) info.config = config();
  if (auto* core = openblas<char*()>("openblas_get_corename")) info.core = core();
  if (auto* threads = openblas<int()>("openblas_get_num_threads")) info.threads = threads();
  return info;
}

std::string better_openblas_core() {
  const BlasInfo info = blas_info();
  // The generic fallbacks of a DYNAMIC_ARCH build.
  if (info.core != "Prescott" && info.core != "Core2" && info.core != "Nehalem" &&
      info.core != "prescott" && info.core != "core2" && info.core != "nehalem")
    return "";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
  return "";
}

}  // namespace simlab::learners
