// matmul: C[z] (+)= sum_r opA . opB (+ bias) through the shared GEMM (gemm.cuh), with
// every transpose and batch layout expressed as strides: A element (m, k) of batch z,
// reduce-batch r at a[z*saz + r*sar + m*sa0 + k*sa1] (trans_a swaps sa0/sa1), B (k, n)
// likewise. matmul_backward is the same kernel: dA = G . op(B)^T, dB = op(A)^T . G (with
// r running over the batch when b was shared). Grid: (ceil(M/tile), ceil(N/tile), Z),
// 256 threads; tile 64 for f32/f64, 128 for f16/bf16 and for f32 with tf32 = 1.
// matmul_bias_grad: dbias[n] = sum over rows of G[row, n] (fixed order, deterministic).
#include "gemm.cuh"

template <typename T>
__device__ __forceinline__ void matmul_body(const T* a, const T* b, T* c, const T* bias, i64 M, i64 N, i64 K,
                                            i64 sa0, i64 sa1, i64 saz, i64 sar, i64 sb0, i64 sb1, i64 sbz,
                                            i64 sbr, i64 R, i64 ldc, i64 scz, i64 bias_rows, i64 accumulate,
                                            i64 tf32) {
  MatLoad<T> la = {a, sa0, sa1, saz, sar};
  MatLoad<T> lb = {b, sb0, sb1, sbz, sbr};
  Epilogue<T> ep = {c, ldc, scz, bias, bias_rows, accumulate};
  gemm_dispatch(la, lb, ep, M, N, K, R, tf32 != 0);
}

template <typename T>
__device__ __forceinline__ void bias_grad_body(const T* g, i64 rows, i64 N, T* out) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(n, N) {
    A s = 0;
    for (i64 r = 0; r < rows; ++r) s += ld(g, r * N + n);
    st(out, n, s);
  }
}

#define TC_MATMUL(S, T)                                                                             \
  extern "C" __global__ void __launch_bounds__(256) matmul_##S(const T* a, const T* b, T* c,         \
      const T* bias, i64 M, i64 N, i64 K, i64 sa0, i64 sa1, i64 saz, i64 sar, i64 sb0, i64 sb1,      \
      i64 sbz, i64 sbr, i64 R, i64 ldc, i64 scz, i64 bias_rows, i64 accumulate, i64 tf32) {          \
    matmul_body(a, b, c, bias, M, N, K, sa0, sa1, saz, sar, sb0, sb1, sbz, sbr, R, ldc, scz,         \
                bias_rows, accumulate, tf32);                                                       \
  }                                                                                                 \
  extern "C" __global__ void matmul_bias_grad_##S(const T* g, i64 rows, i64 N, T* out) {            \
    bias_grad_body(g, rows, N, out);                                                                \
  }                                                                                                 \
  TC_REGISTER(matmul_##S) TC_REGISTER(matmul_bias_grad_##S)
TC_FOR_FLOATS(TC_MATMUL)
#undef TC_MATMUL
