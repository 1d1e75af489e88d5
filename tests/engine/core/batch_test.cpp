#include "engine/core/batch.h"

#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

#include "engine/core/spec.h"

namespace simlab::engine {
namespace {

TEST(Buffer2D, IsAlignedZeroedAndRowMajor) {
  Buffer2D<float> b(5, 3);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % kBufferAlignment, 0u);
  for (float x : b.flat())
    EXPECT_EQ(x, 0.0f);
  b(2, 1) = 7.0f;
  EXPECT_EQ(b.data()[2 * 3 + 1], 7.0f);
  EXPECT_EQ(b.row(2)[1], 7.0f);
  EXPECT_EQ(b.size_bytes(), 5u * 3u * sizeof(float));
}

TEST(Batch, FieldsExposeTheSameMemoryWithShapes) {
  Batch batch(4, 6, 2);
  auto fields = batch.fields();
  ASSERT_EQ(fields.size(), 9u);
  EXPECT_EQ(fields[0].name, "obs");
  EXPECT_EQ(fields[0].rows, 4);
  EXPECT_EQ(fields[0].cols, 6);
  EXPECT_EQ(fields[0].data, batch.obs.data());  // wrap-able without copying
  for (const auto& f : fields)
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.data) % kBufferAlignment, 0u) << f.name;
  // env ids start as the identity
  for (int r = 0; r < 4; ++r)
    EXPECT_EQ(batch.env_id(r, 0), r);
}

TEST(Batch, CopyRowCopiesEveryField) {
  Batch src(3, 2, 1), dst(1, 2, 1);
  src.obs(2, 1) = 5.f;
  src.final_obs(2, 0) = 6.f;
  src.action(2, 0) = 7.f;
  src.reward(2, 0) = 8.f;
  src.terminated(2, 0) = 1;
  src.truncated(2, 0) = 1;
  src.status(2, 0) = 2;
  src.episode_step(2, 0) = 9;
  dst.copy_row(0, src, 2);
  EXPECT_EQ(dst.obs(0, 1), 5.f);
  EXPECT_EQ(dst.final_obs(0, 0), 6.f);
  EXPECT_EQ(dst.action(0, 0), 7.f);
  EXPECT_EQ(dst.reward(0, 0), 8.f);
  EXPECT_EQ(dst.terminated(0, 0), 1);
  EXPECT_EQ(dst.truncated(0, 0), 1);
  EXPECT_EQ(dst.status(0, 0), 2);
  EXPECT_EQ(dst.env_id(0, 0), 2);
  EXPECT_EQ(dst.episode_step(0, 0), 9);
}

TEST(Space, GroupsNamesAndBounds) {
  Space s;
  s.add_group("qpos", 2, {"slider", "hinge"});
  s.add_group("ctrl", 1, {}, -1.f, 1.f);
  EXPECT_EQ(s.dim(), 3);
  EXPECT_EQ(s.names()[1], "qpos/hinge");
  EXPECT_EQ(s.names()[2], "ctrl/0");
  EXPECT_EQ(s.low()[2], -1.f);
  EXPECT_TRUE(std::isinf(s.high()[0]));
  ASSERT_NE(s.find_group("ctrl"), nullptr);
  EXPECT_EQ(s.find_group("ctrl")->offset, 2);
  EXPECT_EQ(s.find_group("nope"), nullptr);
}

TEST(Space, FindsFirstNonFinite) {
  const float ok[] = {1.f, 2.f};
  const float bad[] = {1.f, NAN, INFINITY};
  EXPECT_FALSE(Space::first_non_finite(ok).has_value());
  EXPECT_EQ(Space::first_non_finite(bad), 1);
}

}  // namespace
}  // namespace simlab::engine
