// softmax over the last axis: x viewed as [R, C] rows, one block per row (grid-stride
// over rows). Forward: one online pass for (max, rescaled sum), one pass to write y.
// Backward: dx = y * (g - sum(g * y)). NaN anywhere in a row gives a NaN row.
#include "rows.cuh"

template <typename T>
__device__ __forceinline__ void softmax_body(const T* x, T* y, i64 R, i64 C) {
  typedef typename Acc<T>::type A;
  for (i64 r = blockIdx.x; r < R; r += gridDim.x) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    A m, s;
    row_stats(xr, C, m, s);
    A inv = A(1) / s;
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) st(yr, j, tc_exp(ld(xr, j) - m) * inv);
  }
}

template <typename T>
__device__ __forceinline__ void softmax_backward_body(const T* g, const T* y, T* dx, i64 R, i64 C) {
  typedef typename Acc<T>::type A;
  __shared__ A scratch[32];
  for (i64 r = blockIdx.x; r < R; r += gridDim.x) {
    const T* gr = g + r * C;
    const T* yr = y + r * C;
    A d = 0;
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) d += ld(gr, j) * ld(yr, j);
    d = block_sum(d, scratch);
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) st(dx + r * C, j, ld(yr, j) * (ld(gr, j) - d));
  }
}

#define TC_SOFTMAX(S, T)                                                                     \
  extern "C" __global__ void softmax_##S(const T* x, T* y, i64 R, i64 C) {                  \
    softmax_body(x, y, R, C);                                                                \
  }                                                                                          \
  extern "C" __global__ void softmax_backward_##S(const T* g, const T* y, T* dx, i64 R, i64 C) { \
    softmax_backward_body(g, y, dx, R, C);                                                   \
  }                                                                                          \
  TC_REGISTER(softmax_##S) TC_REGISTER(softmax_backward_##S)
TC_FOR_FLOATS(TC_SOFTMAX)
#undef TC_SOFTMAX
