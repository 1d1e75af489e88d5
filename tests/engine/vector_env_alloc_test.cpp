// No heap allocation inside the step loop. This binary replaces malloc and its relatives for the
// whole process (operator new, MuJoCo, oneTBB all end up there), counts calls while a flag is up,
// and steps a batch of humanoids, resets included, after a warm-up.
#include <atomic>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "engine/vector_env.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIMLAB_COUNT_MALLOC 0  // ASan owns malloc; the sanitizer build skips this check
#else
#define SIMLAB_COUNT_MALLOC 1
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
inline void count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
}
}  // namespace

#if SIMLAB_COUNT_MALLOC
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : 12;  // ENOMEM
}
}
#endif

namespace simlab::engine {
namespace {

TEST(VectorEnvAllocations, SteadyStateStepLoopDoesNotAllocate) {
#if !SIMLAB_COUNT_MALLOC
  GTEST_SKIP() << "malloc is owned by the sanitizer in this build";
#endif
  auto model = physics::load_model(physics::ModelSource::file(
      std::filesystem::path(SIMLAB_TEST_ASSET_DIR) / "models/humanoid.xml"));
  for (int threads : {1, 2}) {
    VectorEnv env(model, {.num_envs = 16,
                          .num_threads = threads,
                          .seed = 1,
                          .max_episode_steps = 10,  // resets inside the measured window
                          .task = {.reward = [](const physics::World& w, std::span<const float>) {
                            double q[7];  // the root joint: reads the state, allocates nothing
                            w.read(physics::Quantity::kJointPos, 0, q);
                            return static_cast<float>(q[2]);
                          }}});
    std::vector<float> actions(16 * env.action_space().dim(), 0.3f);
    for (int s = 0; s < 30; ++s)
      env.step(actions);  // warm-up: thread pool, task pools
    g_allocations = 0;
    g_counting = true;
    for (int s = 0; s < 100; ++s) {
      actions[s % actions.size()] = -actions[s % actions.size()];
      env.step(actions);
    }
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0)
        << threads << " thread(s): allocations in 100 steps of 16 envs";
    EXPECT_GE(env.stats().episodes, 16u * 10u);  // resets really happened in the window
  }
}

TEST(VectorEnvAllocations, CounterSeesAllocations) {
#if !SIMLAB_COUNT_MALLOC
  GTEST_SKIP() << "malloc is owned by the sanitizer in this build";
#endif
  // The counter itself works: a vector allocation is seen. The pointer goes through a volatile so
  // that the compiler cannot elide the new/delete pair (Clang does, otherwise).
  static std::vector<int>* volatile escaped = nullptr;
  g_allocations = 0;
  g_counting = true;
  escaped = new std::vector<int>(100);
  g_counting = false;
  delete escaped;
  EXPECT_GE(g_allocations.load(), 2);
}

}  // namespace
}  // namespace simlab::engine
