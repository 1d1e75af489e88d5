// Owning, 64-byte aligned, zero-initialised arrays with a [rows, cols] shape: the storage behind
// every batch field. A learner wraps data() without copying (torch::from_blob, numpy, DLPack).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

#include "engine/core/error.h"

namespace simlab::engine {

inline constexpr std::size_t kBufferAlignment = 64;  // a cache line; also AVX-512 friendly

template <class T>
class Buffer2D {
 public:
  Buffer2D() = default;
  Buffer2D(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {
    SIMLAB_CHECK(rows >= 0 && cols >= 0) << "shape [" << rows << ", " << cols << "]";
    const std::size_t bytes = size_bytes();
    // aligned_alloc needs a size that is a multiple of the alignment; keep at least one line.
    const std::size_t padded = std::max<std::size_t>(
        kBufferAlignment, (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
    data_.reset(static_cast<T*>(std::aligned_alloc(kBufferAlignment, padded)));
    if (!data_) throw std::bad_alloc();
    std::memset(data_.get(), 0, padded);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t size() const { return rows_ * cols_; }
  std::size_t size_bytes() const { return static_cast<std::size_t>(size()) * sizeof(T); }

  std::span<T> row(std::int64_t r) {
    return {data_.get() + r * cols_, static_cast<std::size_t>(cols_)};
  }
  std::span<const T> row(std::int64_t r) const {
    return {data_.get() + r * cols_, static_cast<std::size_t>(cols_)};
  }
  T& operator()(std::int64_t r, std::int64_t c) { return data_.get()[r * cols_ + c]; }
  const T& operator()(std::int64_t r, std::int64_t c) const { return data_.get()[r * cols_ + c]; }
  std::span<T> flat() { return {data_.get(), static_cast<std::size_t>(size())}; }
  std::span<const T> flat() const { return {data_.get(), static_cast<std::size_t>(size())}; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
};

}  // namespace simlab::engine
