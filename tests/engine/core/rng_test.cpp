#include "engine/core/rng.h"

#include <cmath>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace simlab::engine {
namespace {

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, MatchesRandom123KnownAnswers) {
  using A = std::array<std::uint32_t, 4>;
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}), (A{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (A{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

std::vector<std::uint32_t> draw(Rng rng, int n) {
  std::vector<std::uint32_t> out(n);
  for (auto& x : out)
    x = rng.next_u32();
  return out;
}

TEST(Rng, SameKeySameStream) {
  EXPECT_EQ(draw(Rng(42, 3, 7), 100), draw(Rng(42, 3, 7), 100));
}

TEST(Rng, EveryKeyPartChangesTheStream) {
  const auto base = draw(Rng(42, 3, 7, 0), 16);
  EXPECT_NE(base, draw(Rng(43, 3, 7, 0), 16));
  EXPECT_NE(base, draw(Rng(42, 4, 7, 0), 16));
  EXPECT_NE(base, draw(Rng(42, 3, 8, 0), 16));
  EXPECT_NE(base, draw(Rng(42, 3, 7, 1), 16));
  // The high half of the 64-bit seed matters too.
  EXPECT_NE(base, draw(Rng(42 + (1ull << 32), 3, 7, 0), 16));
}

TEST(Rng, DrawsDoNotDependOnOtherEnvsDraws) {
  // Interleaving draws of two envs (as threads would) leaves each env's sequence unchanged.
  Rng a(1, 0, 0), b(1, 1, 0);
  std::vector<double> interleaved_a;
  for (int i = 0; i < 50; ++i) {
    interleaved_a.push_back(a.uniform());
    b.uniform();
    b.normal();
  }
  Rng alone(1, 0, 0);
  for (double x : interleaved_a)
    EXPECT_EQ(x, alone.uniform());
}

TEST(Rng, UniformIsInRangeAndUnbiased) {
  Rng rng(5, 0, 0);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(-2.0, 3.0);
    ASSERT_GE(u, -2.0);
    ASSERT_LT(u, 3.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.02);
}

TEST(Rng, NormalHasUnitMoments) {
  Rng rng(6, 0, 0);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
}

TEST(Rng, BelowCoversEveryValue) {
  Rng rng(7, 0, 0);
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto v = rng.below(6);
    ASSERT_LT(v, 6u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 6u);
}

}  // namespace
}  // namespace simlab::engine
