// Mean squared error. Forward: per-element (pred - target)^2 for reduction "none", or
// per-block double partial sums (mse_partial) summed in a fixed order by mse_finish
// (deterministic, no atomics). Backward: dpred = 2 (pred - target) * g * scale, with g
// from `grad`: gmode 0 = none (1), 1 = a 0-d device scalar, 2 = elementwise.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void mse_none_body(const T* p, const T* t, T* out, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) {
    A d = ld(p, i) - ld(t, i);
    st(out, i, d * d);
  }
}
// part[blockIdx.x] = sum over this block's grid-stride elements (double).
template <typename T>
__device__ __forceinline__ void mse_partial_body(const T* p, const T* t, double* part, i64 n) {
  __shared__ double scratch[32];
  double s = 0;
  TC_GRID_LOOP(i, n) {
    double d = double(ld(p, i)) - double(ld(t, i));
    s += d * d;
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}
template <typename T>
__device__ __forceinline__ void mse_backward_body(const T* p, const T* t, const T* g, i64 gmode,
                                                  double scale, T* dp, i64 n) {
  typedef typename Acc<T>::type A;
  const A g0 = gmode == 1 ? ld(g, 0) : A(1), k = A(2.0 * scale);
  TC_GRID_LOOP(i, n) {
    A gi = gmode == 2 ? ld(g, i) : g0;
    st(dp, i, k * (ld(p, i) - ld(t, i)) * gi);
  }
}

#define TC_MSE(S, T)                                                                          \
  extern "C" __global__ void mse_none_##S(const T* p, const T* t, T* out, i64 n) {           \
    mse_none_body(p, t, out, n);                                                              \
  }                                                                                           \
  extern "C" __global__ void mse_partial_##S(const T* p, const T* t, double* part, i64 n) {  \
    mse_partial_body(p, t, part, n);                                                          \
  }                                                                                           \
  extern "C" __global__ void mse_finish_##S(const double* part, i64 n, double scale, T* out) { \
    finish_sum(part, n, scale, out);                                                          \
  }                                                                                           \
  extern "C" __global__ void mse_backward_##S(const T* p, const T* t, const T* g, i64 gmode,  \
                                              double scale, T* dp, i64 n) {                   \
    mse_backward_body(p, t, g, gmode, scale, dp, n);                                          \
  }                                                                                           \
  TC_REGISTER(mse_none_##S) TC_REGISTER(mse_partial_##S) TC_REGISTER(mse_finish_##S)          \
  TC_REGISTER(mse_backward_##S)
TC_FOR_FLOATS(TC_MSE)
#undef TC_MSE
