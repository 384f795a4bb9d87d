// Batch normalization (cpu/batch_norm.h's math). x viewed as [outer, C, inner]: NCHW images
// [N, C, H*W], NHWC images or rank 2 [N*H*W, C, 1]. One block per channel (grid-stride over
// channels), its threads striding over the channel's M = outer * inner values; sums in double by a
// fixed-order block reduction (deterministic).
//   batch_norm_stats:          mean[c], var[c] (biased; two passes over the channel)
//   batch_norm_apply:          y = (x - mean) / sqrt(var + eps) * gamma + beta (elementwise; gamma/beta may be null)
//   batch_norm_backward_reduce: sg[c] = sum grad, sgx[c] = sum grad * xh (double, [2C])
//   batch_norm_backward_apply: dx = gamma * invstd * (grad - sg / M - xh * sgx / M); dgamma, dbeta from sg/sgx
//   batch_norm_update_stats:   running = (1 - m) * running + m * batch (var times corr: M / (M - 1) or 1)
#include "common.cuh"

__device__ __forceinline__ i64 bn_index(i64 c, i64 e, i64 C, i64 inner) {
  return ((e / inner) * C + c) * inner + e % inner;  // element e of channel c
}

template <typename T>
__device__ __forceinline__ void bn_stats_body(const T* x, i64 outer, i64 C, i64 inner, T* mean, T* var) {
  __shared__ double scratch[32];
  const i64 M = outer * inner;
  for (i64 c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0;
    for (i64 e = threadIdx.x; e < M; e += blockDim.x) s += double(ld(x, bn_index(c, e, C, inner)));
    s = block_sum(s, scratch);
    const typename Acc<T>::type mu = typename Acc<T>::type(s / double(M));
    double q = 0;
    for (i64 e = threadIdx.x; e < M; e += blockDim.x) {
      const double d = double(ld(x, bn_index(c, e, C, inner))) - double(mu);
      q += d * d;
    }
    q = block_sum(q, scratch);
    if (threadIdx.x == 0) {
      st(mean, c, mu);
      st(var, c, typename Acc<T>::type(q / double(M)));
    }
  }
}

template <typename T>
__device__ __forceinline__ void bn_apply_body(const T* x, const T* gamma, const T* beta, const T* mean, const T* var,
                                              i64 outer, i64 C, i64 inner, double eps, T* y) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, outer * C * inner) {
    const i64 c = (i / inner) % C;
    const A invstd = A(1) / tc_sqrt(ld(var, c) + A(eps));
    const A scale = invstd * (gamma ? ld(gamma, c) : A(1));
    st(y, i, (ld(x, i) - ld(mean, c)) * scale + (beta ? ld(beta, c) : A(0)));
  }
}

template <typename T>
__device__ __forceinline__ void bn_bwd_reduce_body(const T* g, const T* x, const T* mean, const T* var, i64 outer,
                                                   i64 C, i64 inner, double eps, double* sums) {
  typedef typename Acc<T>::type A;
  __shared__ double scratch[32];
  const i64 M = outer * inner;
  for (i64 c = blockIdx.x; c < C; c += gridDim.x) {
    const A mu = ld(mean, c), invstd = A(1) / tc_sqrt(ld(var, c) + A(eps));
    double sg = 0, sgx = 0;
    for (i64 e = threadIdx.x; e < M; e += blockDim.x) {
      const i64 i = bn_index(c, e, C, inner);
      const A gi = ld(g, i);
      sg += double(gi);
      sgx += double(gi) * double((ld(x, i) - mu) * invstd);
    }
    sg = block_sum(sg, scratch);
    sgx = block_sum(sgx, scratch);
    if (threadIdx.x == 0) {
      sums[c] = sg;
      sums[C + c] = sgx;
    }
  }
}

template <typename T>
__device__ __forceinline__ void bn_bwd_apply_body(const T* g, const T* x, const T* gamma, const T* mean, const T* var,
                                                  const double* sums, i64 outer, i64 C, i64 inner, double eps, T* dx,
                                                  T* dgamma, T* dbeta) {
  typedef typename Acc<T>::type A;
  const double M = double(outer * inner);
  TC_GRID_LOOP(c, C) {
    if (dbeta) st(dbeta, c, A(sums[c]));
    if (dgamma) st(dgamma, c, A(sums[C + c]));
  }
  if (!dx) return;
  TC_GRID_LOOP(i, outer * C * inner) {
    const i64 c = (i / inner) % C;
    const A invstd = A(1) / tc_sqrt(ld(var, c) + A(eps));
    const A k = invstd * (gamma ? ld(gamma, c) : A(1));
    const A xh = (ld(x, i) - ld(mean, c)) * invstd;
    st(dx, i, k * (ld(g, i) - A(sums[c] / M) - xh * A(sums[C + c] / M)));
  }
}

template <typename T>
__device__ __forceinline__ void bn_update_body(const T* rm, const T* rv, const T* mean, const T* var, i64 C,
                                               double momentum, double corr, T* nm, T* nv) {
  typedef typename Acc<T>::type A;
  const A m = A(momentum), keep = A(1) - A(momentum);
  TC_GRID_LOOP(c, C) {
    st(nm, c, keep * ld(rm, c) + m * ld(mean, c));
    st(nv, c, keep * ld(rv, c) + m * (ld(var, c) * A(corr)));
  }
}

#define TC_BN(S, T)                                                                                          \
  extern "C" __global__ void batch_norm_stats_##S(const T* x, i64 outer, i64 C, i64 inner, T* mean, T* var) { \
    bn_stats_body(x, outer, C, inner, mean, var);                                                            \
  }                                                                                                          \
  extern "C" __global__ void batch_norm_apply_##S(const T* x, const T* gamma, const T* beta, const T* mean,   \
      const T* var, i64 outer, i64 C, i64 inner, double eps, T* y) {                                         \
    bn_apply_body(x, gamma, beta, mean, var, outer, C, inner, eps, y);                                       \
  }                                                                                                          \
  extern "C" __global__ void batch_norm_backward_reduce_##S(const T* g, const T* x, const T* mean,            \
      const T* var, i64 outer, i64 C, i64 inner, double eps, double* sums) {                                 \
    bn_bwd_reduce_body(g, x, mean, var, outer, C, inner, eps, sums);                                         \
  }                                                                                                          \
  extern "C" __global__ void batch_norm_backward_apply_##S(const T* g, const T* x, const T* gamma,            \
      const T* mean, const T* var, const double* sums, i64 outer, i64 C, i64 inner, double eps, T* dx,       \
      T* dgamma, T* dbeta) {                                                                                 \
    bn_bwd_apply_body(g, x, gamma, mean, var, sums, outer, C, inner, eps, dx, dgamma, dbeta);                \
  }                                                                                                          \
  extern "C" __global__ void batch_norm_update_stats_##S(const T* rm, const T* rv, const T* mean,            \
      const T* var, i64 C, double momentum, double corr, T* nm, T* nv) {                                     \
    bn_update_body(rm, rv, mean, var, C, momentum, corr, nm, nv);                                            \
  }                                                                                                          \
  TC_REGISTER(batch_norm_stats_##S) TC_REGISTER(batch_norm_apply_##S)                                        \
  TC_REGISTER(batch_norm_backward_reduce_##S) TC_REGISTER(batch_norm_backward_apply_##S)                     \
  TC_REGISTER(batch_norm_update_stats_##S)
TC_FOR_FLOATS(TC_BN)
#undef TC_BN
