// relu / tanh, forward and backward (elementwise; x, y, dy, dx contiguous, n elements).
// relu: y = max(x, 0), NaN stays NaN; backward dx = dy * (y > 0).
// tanh: y = tanh(x); backward dx = dy * (1 - y^2). Math in float (double for f64).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void relu_body(const T* x, T* y, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) {
    A v = ld(x, i);
    st(y, i, v < A(0) ? A(0) : v);  // NaN < 0 is false: NaN passes
  }
}
template <typename T>
__device__ __forceinline__ void relu_backward_body(const T* dy, const T* y, T* dx, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) st(dx, i, ld(y, i) > A(0) ? ld(dy, i) : A(0));
}
template <typename T>
__device__ __forceinline__ void tanh_body(const T* x, T* y, i64 n) {
  TC_GRID_LOOP(i, n) st(y, i, tc_tanh(ld(x, i)));
}
template <typename T>
__device__ __forceinline__ void tanh_backward_body(const T* dy, const T* y, T* dx, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) {
    A t = ld(y, i);
    st(dx, i, ld(dy, i) * (A(1) - t * t));
  }
}

#define TC_ACT(S, T)                                                                          \
  extern "C" __global__ void relu_##S(const T* x, T* y, i64 n) { relu_body(x, y, n); }       \
  extern "C" __global__ void relu_backward_##S(const T* dy, const T* y, T* dx, i64 n) {      \
    relu_backward_body(dy, y, dx, n);                                                         \
  }                                                                                           \
  extern "C" __global__ void tanh_##S(const T* x, T* y, i64 n) { tanh_body(x, y, n); }       \
  extern "C" __global__ void tanh_backward_##S(const T* dy, const T* y, T* dx, i64 n) {      \
    tanh_backward_body(dy, y, dx, n);                                                         \
  }                                                                                           \
  TC_REGISTER(relu_##S) TC_REGISTER(relu_backward_##S) TC_REGISTER(tanh_##S) TC_REGISTER(tanh_backward_##S)
TC_FOR_FLOATS(TC_ACT)
#undef TC_ACT

// sigmoid (issue 16): y = 1 / (1 + e^-x) (e^-x = inf gives exactly 0); dx = dy * y * (1 - y).
template <typename T>
__device__ __forceinline__ void sigmoid_body(const T* x, T* y, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) st(y, i, A(1) / (A(1) + tc_exp(-ld(x, i))));
}
template <typename T>
__device__ __forceinline__ void sigmoid_backward_body(const T* dy, const T* y, T* dx, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) {
    A s = ld(y, i);
    st(dx, i, ld(dy, i) * s * (A(1) - s));
  }
}
#define TC_SIGMOID(S, T)                                                                      \
  extern "C" __global__ void sigmoid_##S(const T* x, T* y, i64 n) { sigmoid_body(x, y, n); } \
  extern "C" __global__ void sigmoid_backward_##S(const T* dy, const T* y, T* dx, i64 n) {   \
    sigmoid_backward_body(dy, y, dx, n);                                                      \
  }                                                                                           \
  TC_REGISTER(sigmoid_##S) TC_REGISTER(sigmoid_backward_##S)
TC_FOR_FLOATS(TC_SIGMOID)
#undef TC_SIGMOID
