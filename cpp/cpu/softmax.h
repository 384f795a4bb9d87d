// Softmax over the last axis. x, y, dy, dx: same shape (any rank >= 1), contiguous,
// float32/float64; the rows are the numel / C slices of the last axis (C = last dim).
//
// The inline row primitives below (a vectorizable exp, lane-split max/sum) are shared
// with softmax_cross_entropy.cc. Call them only from inside a TC_ISA_FN body, so they are
// inlined and compiled for that body's ISA.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/tensor.h"

namespace tc::cpu {

void softmax(const Tensor& x, const Tensor& y);  // y = exp(x - max) / sum, per row
// dx = y * (dy - sum(dy * y)), per row (the vector-Jacobian product of softmax).
void softmax_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);

namespace rows {

// Lane count for the split reductions: without -ffast-math the compiler may not reorder
// a float sum, so we keep kLanes independent partial sums it can map to SIMD registers.
constexpr int kLanes = 16;

// Forced inlining: a template shared by the avx512/avx2/generic bodies is otherwise one
// out-of-line function compiled for the baseline ISA, and the wide paths never run.
#define TC_ROW_INLINE inline __attribute__((always_inline))

// exp for float as Cephes' expf (range reduction by ln 2, degree-6 polynomial, ~1-2 ulp)
// written branch-free so a loop over it vectorizes; double uses std::exp.
// Results below ~1e-38 flush to 0 (they vanish in any softmax sum). NaN stays NaN.
TC_ROW_INLINE float exp_of(float x) {
  // Written so NaN clamps to -87 too: converting NaN to int below would be undefined.
  float xc = x >= -87.0f ? (x <= 88.0f ? x : 88.0f) : -87.0f;
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (no rounding instruction needed).
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float out = e * scale;
  out = x < -87.0f ? 0.0f : out;
  out = x > 88.7f ? std::numeric_limits<float>::infinity() : out;
  return x != x ? x : out;
}
TC_ROW_INLINE double exp_of(double x) { return std::exp(x); }

// max of a row; NaN entries are skipped here but still poison the row through exp later.
// Written with 16-byte GCC vector types (one SSE register: wider ones went through memory
// in the bodies whose ISA lacks them), four accumulators: the compiler left the lane-split
// scalar form as scalar maxss, 4x slower, a fifth of a softmax cross-entropy. max is
// exact: any order gives the same result.
template <typename T>
TC_ROW_INLINE T row_max(const T* x, int64_t n) {
  typedef T V __attribute__((vector_size(16)));
  constexpr int kV = 16 / sizeof(T);
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  V acc[4];
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < kV; ++k) acc[i][k] = kNegInf;
  int64_t j = 0;
  for (; j + 4 * kV <= n; j += 4 * kV)
    for (int i = 0; i < 4; ++i) {
      V a;
      std::memcpy(&a, x + j + i * kV, sizeof a);
      acc[i] = a > acc[i] ? a : acc[i];
    }
  T m = kNegInf;
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < kV; ++k) m = acc[i][k] > m ? acc[i][k] : m;
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

template <typename T>
TC_ROW_INLINE T row_sum(const T* x, int64_t n) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += x[j + k];
  T s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; j < n; ++j) s += x[j];
  return s;
}

template <typename T>
TC_ROW_INLINE T row_dot(const T* a, const T* b, int64_t n) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += a[j + k] * b[j + k];
  T s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

// e[j] = exp(x[j] - m) for a row, returning sum(e). e may not alias x unless equal.
template <typename T>
TC_ROW_INLINE T exp_shifted(const T* x, T m, T* e, int64_t n) {
  for (int64_t j = 0; j < n; ++j) e[j] = exp_of(x[j] - m);
  return row_sum(e, n);
}

// sum(exp(x[j] - m)) without keeping the exps (a small stack block instead).
template <typename T>
TC_ROW_INLINE T exp_shifted_sum(const T* x, T m, int64_t n) {
  constexpr int64_t kBlock = 256;
  T buf[kBlock];
  T s = 0;
  for (int64_t j = 0; j < n; j += kBlock) {
    int64_t len = n - j < kBlock ? n - j : kBlock;
    s += exp_shifted(x + j, m, buf, len);
  }
  return s;
}

// Rows per parallel chunk so that one chunk holds about 16K elements.
inline int64_t row_grain(int64_t cols) { return cols >= (1 << 14) ? 1 : (1 << 14) / cols; }

}  // namespace rows
}  // namespace tc::cpu
