// Compute threads and the BLAS under LibTorch.
//
// `--threads N` has to reach three pools: LibTorch's intra-op pool (OpenMP), its inter-op pool,
// and the BLAS's own. at::set_num_threads reaches OpenMP (and MKL) but not OpenBLAS's pthreads
// pool (Debian's libopenblas0-pthread), which otherwise starts a thread per core and spins them
// between calls: a `--threads 1` run on a one-core allocation would use about two.
#pragma once

#include <string>

namespace simlab::learners {

// LibTorch's intra-op threads, the inter-op threads (once per process, before any inter-op work;
// later calls leave them) and OpenBLAS's threads all set to `threads` (>= 1).
void set_compute_threads(int threads);

// The BLAS LibTorch multiplies with, when it is OpenBLAS (found at run time).
struct BlasInfo {
  std::string config;  // openblas_get_config(): version and build options; empty: not OpenBLAS
  std::string core;    // the kernel family it chose for this CPU ("SkylakeX", "Haswell", ...)
  int threads = 0;     // its thread pool's size
};
BlasInfo blas_info();

// OpenBLAS chooses its kernels when it is loaded, from the CPUs it knows. Older releases do not
// know newer CPUs and fall back to generic SSE3 kernels ("Prescott"): OpenBLAS 0.3.21 (Debian 12)
// on a Sapphire Rapids Xeon multiplies 4x slower than with its AVX-512 kernels. Returns the
// OPENBLAS_CORETYPE that fits this CPU when that happened (the variable must be set before the
// library loads: the CLI re-executes itself with it), else "".
std::string better_openblas_core();

}  // namespace simlab::learners
