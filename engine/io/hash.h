// Content hashes for datasets: 64-bit FNV-1a over episode arrays (compared across shards and
// runs), and CRC-32 over whole files (zlib's, the one `python3 -c "import zlib"` computes).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace simlab::engine::io {

class Fnv1a64 {
 public:
  void add(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ull;
    }
  }
  template <class T>
  void add(const std::vector<T>& v) {
    const std::uint64_t n = v.size();  // lengths too, so [a][bc] and [ab][c] differ
    add(&n, sizeof n);
    add(v.data(), v.size() * sizeof(T));
  }
  std::uint64_t value() const { return h_; }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

// CRC-32 of a file's bytes as 8 hex digits; throws simlab::Error if it cannot be read.
std::string crc32_file(const std::filesystem::path& file);

}  // namespace simlab::engine::io
