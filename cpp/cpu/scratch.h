// A growable 64-byte aligned scratch buffer, kept per thread by the GEMMs (packed panels).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace tc::cpu {

struct Scratch {
  static constexpr size_t kAlign = 64;
  void* p = nullptr;
  size_t cap = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p); }
  // n values of T, 64-byte aligned; the contents are not kept when it grows.
  template <typename T>
  T* get(size_t n) {
    const size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    if (bytes > cap) {
      std::free(p);
      cap = 0;
      p = std::aligned_alloc(kAlign, bytes);
      if (!p) throw std::bad_alloc();
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
};

}  // namespace tc::cpu
