// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11). A stream is a pure function
// of (seed, env, episode, stream id) and the draw index, so what an env draws never depends on
// which thread steps it, in which order, or how many threads there are. No state is shared between
// envs.
//
//   Rng rng(seed, env, episode);        // one stream per (env, episode)
//   double u = rng.uniform(-1.0, 1.0);  // draws advance a 128-bit counter
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace simlab::engine {

// Philox4x32 with 10 rounds: 128-bit counter, 64-bit key, 4 x 32 random bits out.
inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> ctr,
                                               std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{kM0} * ctr[0];
    const std::uint64_t p1 = std::uint64_t{kM1} * ctr[2];
    ctr = {static_cast<std::uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<std::uint32_t>(p1),
           static_cast<std::uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<std::uint32_t>(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

class Rng {
 public:
  // Stream ids let one (env, episode) own independent streams, e.g. reset noise vs. randomization.
  Rng(std::uint64_t seed, std::uint32_t env, std::uint32_t episode, std::uint32_t stream = 0)
      : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)},
        env_(env),
        episode_(episode),
        stream_(stream) {}

  std::uint32_t next_u32() {
    if (lane_ == 4) {
      block_ = philox4x32({block_index_++, stream_, episode_, env_}, key_);
      lane_ = 0;
    }
    return block_[lane_++];
  }

  std::uint64_t next_u64() {
    const std::uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Standard normal by Box-Muller; written out here (not std::normal_distribution, whose algorithm
  // differs between standard libraries) so the numbers are the same on every platform.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  // Uniform integer in [0, n), unbiased (rejection on the top of the range).
  std::uint32_t below(std::uint32_t n) {
    const std::uint32_t limit = static_cast<std::uint32_t>(-n) % n;  // 2^32 mod n
    std::uint32_t x;
    do
      x = next_u32();
    while (x < limit);
    return x % n;
  }

 private:
  std::array<std::uint32_t, 2> key_;
  std::uint32_t env_, episode_, stream_;
  std::uint32_t block_index_ = 0;
  std::array<std::uint32_t, 4> block_{};
  int lane_ = 4;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace simlab::engine
