// Matrix transposes for the layout changes inside kernels (NCHW <-> NHWC images in cache).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/dispatch.h"

namespace tc::cpu {

// An 8 x 8 float block: dst[j * ldd + i] = src[i * lds + j], in registers. Three butterfly
// stages; stage b swaps the off-diagonal b x b blocks of each 2b x 2b block.
typedef float V8f __attribute__((vector_size(32)));
typedef int V8i __attribute__((vector_size(32)));
template <int B>
TC_INLINE void swap_blocks(V8f* r) {
  constexpr V8i lo = {0 & B ? 8 + 0 - B : 0, 1 & B ? 8 + 1 - B : 1, 2 & B ? 8 + 2 - B : 2, 3 & B ? 8 + 3 - B : 3,
                      4 & B ? 8 + 4 - B : 4, 5 & B ? 8 + 5 - B : 5, 6 & B ? 8 + 6 - B : 6, 7 & B ? 8 + 7 - B : 7};
  constexpr V8i hi = {0 & B ? 8 : 0 + B, 1 & B ? 9 : 1 + B, 2 & B ? 10 : 2 + B, 3 & B ? 11 : 3 + B,
                      4 & B ? 12 : 4 + B, 5 & B ? 13 : 5 + B, 6 & B ? 14 : 6 + B, 7 & B ? 15 : 7 + B};
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
    if (!(i & B)) {
      const V8f a = r[i], b = r[i + B];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + B] = __builtin_shuffle(a, b, hi);
    }
}
TC_INLINE void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  V8f r[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * lds, sizeof(V8f));
  swap_blocks<4>(r);
  swap_blocks<2>(r);
  swap_blocks<1>(r);
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) std::memcpy(dst + i * ldd, &r[i], sizeof(V8f));
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: float in 8 x 8 register
// blocks, the rest (and double) in 16 x 16 tiles (a plain strided walk over an image
// misses L1 on every access).
template <typename T>
TC_INLINE void transpose_inline(const T* __restrict src, int64_t lds, T* __restrict dst, int64_t ldd, int64_t rows,
                         int64_t cols) {
  int64_t r0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (; r0 + 8 <= rows; r0 += 8) {
      int64_t j = 0;
      for (; j + 8 <= cols; j += 8) transpose8x8(src + r0 * lds + j, lds, dst + j * ldd + r0, ldd);
      for (; j < cols; ++j)
        for (int64_t i = r0; i < r0 + 8; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
  }
  constexpr int64_t B = 16;
  for (int64_t i0 = r0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B) {
      const int64_t i1 = std::min(rows, i0 + B), j1 = std::min(cols, j0 + B);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
}

// The same, compiled for the CPU's ISA (cpu/transpose.cc), for callers outside ISA-compiled
// bodies; ISA-compiled bodies call transpose_inline.
void transpose(const float* src, int64_t lds, float* dst, int64_t ldd, int64_t rows, int64_t cols);
void transpose(const double* src, int64_t lds, double* dst, int64_t ldd, int64_t rows, int64_t cols);

}  // namespace tc::cpu
