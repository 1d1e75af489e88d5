// The check that tools/test.sh --tsan still sees races through oneTBB: two tasks of one task_group
// increment one int with no synchronization. Under ThreadSanitizer with tests/support/tsan_tbb.cpp
// preloaded this must be reported (the ctest TsanCanary.ARaceBetweenTwoTasksIsReported passes on
// the report); if it is not, the preloaded edges hide real races and the --tsan run means nothing.
#include <chrono>
#include <cstdio>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <thread>

int main() {
  int shared = 0;
  tbb::task_arena arena(2);
  tbb::task_group group;
  auto add = [&] {
    for (int k = 0; k < 1000; ++k)
      ++shared;
    // Both tasks stay alive together, on two threads.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  arena.execute([&] {
    group.run(add);
    group.run(add);
  });
  arena.execute([&] { group.wait(); });
  std::printf("%d\n", shared);
  return 0;
}
