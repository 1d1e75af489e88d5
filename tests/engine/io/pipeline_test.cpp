// The writer thread: bounded memory with back-pressure, arrival order, and its failures handed
// back to the simulation's thread.
#include "engine/io/pipeline.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace simlab::engine::io {
namespace {

std::unique_ptr<Episode> episode(std::int64_t index, std::size_t floats) {
  auto e = std::make_unique<Episode>();
  e->index = index;
  e->obs.assign(floats, 1.0f);
  return e;
}

TEST(BackgroundWriter, BoundsMemoryAndMakesTheSimulationWait) {
  const std::size_t one = episode(0, 1000)->bytes();
  std::vector<std::int64_t> seen;
  BackgroundWriter writer(2 * one, [&](std::unique_ptr<Episode> e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));  // a slow disk
    seen.push_back(e->index);
  });
  for (int k = 0; k < 8; ++k)
    writer.push(episode(k, 1000));
  writer.finish();
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_LE(writer.queue().peak_bytes(), 2 * one);
  EXPECT_GT(writer.queue().blocked_seconds(), 0.03);  // pushes waited for room
  EXPECT_GT(writer.busy_seconds(), 0.1);
}

TEST(BackgroundWriter, AnEpisodeLargerThanTheCapStillGoesThrough) {
  int written = 0;
  BackgroundWriter writer(10, [&](std::unique_ptr<Episode>) { ++written; });
  writer.push(episode(0, 1000));
  writer.push(episode(1, 1000));
  writer.finish();
  EXPECT_EQ(written, 2);
}

TEST(BackgroundWriter, ASinkFailureReachesTheProducer) {
  BackgroundWriter writer(1 << 20, [](std::unique_ptr<Episode> e) {
    if (e->index == 1) throw Error(SourceLocation{.file = "part.hdf5"}, "No space left on device");
  });
  bool thrown = false;
  try {
    for (int k = 0; k < 1000 && !thrown; ++k) {
      writer.push(episode(k, 10));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (const Error& e) {
    thrown = true;
    EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos);
  }
  EXPECT_TRUE(thrown);
  EXPECT_THROW(writer.finish(), Error);
}

}  // namespace
}  // namespace simlab::engine::io
