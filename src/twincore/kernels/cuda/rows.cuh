// Row statistics for softmax-like kernels (softmax.cu, softmax_cross_entropy.cu):
// one block per row, an online (max, rescaled sum) pass with warp shuffles.
#pragma once
#include "common.cuh"

// Combines two (max, sum of exp(x - max)) pairs; an empty side has max -inf, sum 0.
template <typename A>
__device__ __forceinline__ void online_merge(A& m, A& s, A m2, A s2) {
  A mm = (m2 > m || m2 != m2) ? m2 : m;
  if (mm == -tc_inf<A>()) return;  // both sides empty so far
  s = (m == -tc_inf<A>() ? A(0) : s * tc_exp(m - mm)) + (m2 == -tc_inf<A>() ? A(0) : s2 * tc_exp(m2 - mm));
  m = mm;
}

// Row statistics by the whole block: every thread gets max m and sum of exp(x - m).
template <typename T>
__device__ __forceinline__ void row_stats(const T* x, i64 C, typename Acc<T>::type& m_out,
                                          typename Acc<T>::type& s_out) {
  typedef typename Acc<T>::type A;
  __shared__ A sm[32], ss[32];
  A m = -tc_inf<A>(), s = A(0);
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) {  // one exp per element
    A v = ld(x, j);
    if (v > m || v != v) {  // new max (or NaN, which then sticks)
      s = (m == -tc_inf<A>() ? A(0) : s * tc_exp(m - v)) + A(1);
      m = v;
    } else {
      s += v == -tc_inf<A>() ? A(0) : tc_exp(v - m);
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    A m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) { sm[wid] = m; ss[wid] = s; }
  __syncthreads();
  m = lane < nw ? sm[lane] : -tc_inf<A>();
  s = lane < nw ? ss[lane] : A(0);
  for (int o = 16; o > 0; o >>= 1) {
    A m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
  m_out = m;
  s_out = s;
}

