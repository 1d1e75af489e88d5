// ThreadSanitizer's view of oneTBB's task scheduling (tools/test.sh --tsan preloads this library
// into the tests of a SIMLAB_SANITIZE_THREAD build).
//
// Debian's libtbb is not instrumented, so TSan sees neither a task handed to a worker nor a
// worker's writes made visible to the thread that waits for it, and reports every access of every
// task as a race (hundreds per VectorEnv test). This library restores those edges through one sync
// address:
//   - the r1:: entry points the headers call (spawn, wait, the small-object pool that task objects
//     are recycled through) are wrapped: a spawn releases, a wait acquires after returning (also
//     the wait's reference count, which the last task decrements), a freed task object releases
//     its memory and its next allocation acquires it;
//   - the same library is oneTBB's ITT collector (INTEL_LIBITTNOTIFY64,
//   INTEL_ITTNOTIFY_GROUPS=sync):
//     libtbb reports a task taken from a pool or stolen as sync_acquired, which acquires.
// What remains visible is every race that no spawn/steal/wait orders: two tasks writing the same
// data, a caller touching an env while its async step runs. One address for all edges
// over-synchronizes (a task that takes any task after another's spawn is ordered after it), so a
// race hidden that way is missed; none is invented.
#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <type_traits>

// oneTBB 2021's exported entry points (r1::spawn, wait, allocate...), which this file defines
// again.
#include <oneapi/tbb/detail/_small_object_pool.h>
#include <oneapi/tbb/detail/_task.h>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

char channel;  // the one sync address

// The next definition of `mangled` (libtbb's), as a pointer to function type F.
template <class F>
F next(const char* mangled) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, mangled));
}

// A wait_context's reference count, which the last task's release() decrements with an
// (instrumented) atomic: acquiring it orders that task's work before the waiter goes on. The class
// is {uint64 m_version_and_traits; atomic<uint64> m_ref_count} in oneTBB 2021.
void* ref_count(tbb::detail::d1::wait_context& w) {
  static_assert(std::is_standard_layout_v<tbb::detail::d1::wait_context> &&
                sizeof(tbb::detail::d1::wait_context) == 2 * sizeof(std::uint64_t));
  return reinterpret_cast<char*>(&w) + sizeof(std::uint64_t);
}

}  // namespace

namespace tbb::detail {
namespace r1 {

void spawn(d1::task& t, d1::task_group_context& ctx) {
  static const auto real = next<void (*)(d1::task&, d1::task_group_context&)>(
      "_ZN3tbb6detail2r15spawnERNS0_2d14taskERNS2_18task_group_contextE");
  __tsan_release(&channel);
  real(t, ctx);
}

void spawn(d1::task& t, d1::task_group_context& ctx, d1::slot_id id) {
  static const auto real = next<void (*)(d1::task&, d1::task_group_context&, d1::slot_id)>(
      "_ZN3tbb6detail2r15spawnERNS0_2d14taskERNS2_18task_group_contextEt");
  __tsan_release(&channel);
  real(t, ctx, id);
}

void execute_and_wait(d1::task& t, d1::task_group_context& t_ctx, d1::wait_context& w,
                      d1::task_group_context& w_ctx) {
  static const auto real = next<void (*)(d1::task&, d1::task_group_context&, d1::wait_context&,
                                         d1::task_group_context&)>(
      "_ZN3tbb6detail2r116execute_and_waitERNS0_2d14taskERNS2_18task_group_contextERNS2_12wait_"
      "contextES6_");
  __tsan_release(&channel);
  real(t, t_ctx, w, w_ctx);
  __tsan_acquire(ref_count(w));
  __tsan_acquire(&channel);
}

void wait(d1::wait_context& w, d1::task_group_context& ctx) {
  static const auto real = next<void (*)(d1::wait_context&, d1::task_group_context&)>(
      "_ZN3tbb6detail2r14waitERNS0_2d112wait_contextERNS2_18task_group_contextE");
  real(w, ctx);
  __tsan_acquire(ref_count(w));
  __tsan_acquire(&channel);
}

void notify_waiters(std::uintptr_t wait_ctx) {  // the last task of a wait finished
  static const auto real = next<void (*)(std::uintptr_t)>("_ZN3tbb6detail2r114notify_waitersEm");
  __tsan_release(&channel);
  real(wait_ctx);
}

void* allocate(d1::small_object_pool*& pool, std::size_t bytes, const d1::execution_data& ed) {
  static const auto real =
      next<void* (*)(d1::small_object_pool*&, std::size_t, const d1::execution_data&)>(
          "_ZN3tbb6detail2r18allocateERPNS0_2d117small_object_poolEmRKNS2_14execution_dataE");
  void* p = real(pool, bytes, ed);
  __tsan_acquire(p);
  return p;
}

void* allocate(d1::small_object_pool*& pool, std::size_t bytes) {
  static const auto real = next<void* (*)(d1::small_object_pool*&, std::size_t)>(
      "_ZN3tbb6detail2r18allocateERPNS0_2d117small_object_poolEm");
  void* p = real(pool, bytes);
  __tsan_acquire(p);
  return p;
}

void deallocate(d1::small_object_pool& pool, void* p, std::size_t bytes,
                const d1::execution_data& ed) {
  static const auto real =
      next<void (*)(d1::small_object_pool&, void*, std::size_t, const d1::execution_data&)>(
          "_ZN3tbb6detail2r110deallocateERNS0_2d117small_object_poolEPvmRKNS2_14execution_dataE");
  __tsan_release(p);
  real(pool, p, bytes, ed);
}

void deallocate(d1::small_object_pool& pool, void* p, std::size_t bytes) {
  static const auto real = next<void (*)(d1::small_object_pool&, void*, std::size_t)>(
      "_ZN3tbb6detail2r110deallocateERNS0_2d117small_object_poolEPvm");
  __tsan_release(p);
  real(pool, p, bytes);
}

}  // namespace r1
}  // namespace tbb::detail

// The ITT collector side: libtbb looks these up by name once __itt_api_version is there.
extern "C" {
int __itt_api_version = 1;
void __itt_sync_acquired(void*) {
  __tsan_acquire(&channel);
}
void __itt_sync_releasing(void*) {
  __tsan_release(&channel);
}
void __itt_sync_prepare(void*) {}
void __itt_sync_cancel(void*) {}
void __itt_sync_create(void*, const char*, const char*, int) {}
void __itt_sync_destroy(void*) {}
}
