// leaky_relu, forward and backward (elementwise; x, y, dy, dx contiguous, n elements).
// y = x > 0 ? x : slope * x (NaN stays NaN); dx = dy * (x > 0 ? 1 : slope), from the input x.
// Math in float (double for f64); slope arrives as a double (the 8-byte ABI).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void leaky_relu_body(const T* x, T* y, i64 n, double slope) {
  typedef typename Acc<T>::type A;
  const A s = A(slope);
  TC_GRID_LOOP(i, n) {
    A v = ld(x, i);
    st(y, i, v > A(0) ? v : v * s);
  }
}
template <typename T>
__device__ __forceinline__ void leaky_relu_backward_body(const T* dy, const T* x, T* dx, i64 n, double slope) {
  typedef typename Acc<T>::type A;
  const A s = A(slope);
  TC_GRID_LOOP(i, n) {
    A g = ld(dy, i);
    st(dx, i, ld(x, i) > A(0) ? g : g * s);
  }
}

#define TC_LEAKY(S, T)                                                                                  \
  extern "C" __global__ void leaky_relu_##S(const T* x, T* y, i64 n, double slope) {                    \
    leaky_relu_body(x, y, n, slope);                                                                    \
  }                                                                                                     \
  extern "C" __global__ void leaky_relu_backward_##S(const T* dy, const T* x, T* dx, i64 n, double slope) { \
    leaky_relu_backward_body(dy, x, dx, n, slope);                                                      \
  }                                                                                                     \
  TC_REGISTER(leaky_relu_##S) TC_REGISTER(leaky_relu_backward_##S)
TC_FOR_FLOATS(TC_LEAKY)
#undef TC_LEAKY
