// global average pooling, NCHW and NHWC: y[n, c] = the mean over H*W; backward spreads
// grad / (H*W) over the plane.
#include "common.cuh"

// y[n, c] = mean over H*W. NCHW: one warp per plane (contiguous); NHWC: one thread per
// (n, c), neighbouring threads read neighbouring channels.
template <typename T>
__device__ __forceinline__ void gap_body(const T* x, T* y, i64 N, i64 C, i64 HW, i64 nhwc) {
  typedef typename Acc<T>::type A;
  const A inv = A(1) / A(HW);
  if (nhwc) {
    TC_GRID_LOOP(e, N * C) {
      const i64 n = e / C, c = e % C;
      A s = 0;
      for (i64 p = 0; p < HW; ++p) s += ld(x, (n * HW + p) * C + c);
      st(y, e, s * inv);
    }
  } else {
    const i64 lane = threadIdx.x & 31;
    const i64 warps = (i64(gridDim.x) * blockDim.x) >> 5;
    for (i64 pl = (i64(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; pl < N * C; pl += warps) {
      A s = 0;
      for (i64 p = lane; p < HW; p += 32) s += ld(x, pl * HW + p);
      s = warp_sum(s);
      if (lane == 0) st(y, pl, s * inv);
    }
  }
}
template <typename T>
__device__ __forceinline__ void gap_backward_body(const T* grad, T* dx, i64 N, i64 C, i64 HW, i64 nhwc) {
  typedef typename Acc<T>::type A;
  const A inv = A(1) / A(HW);
  TC_GRID_LOOP(e, N * C * HW) {
    i64 nc = nhwc ? (e / (HW * C)) * C + e % C : e / HW;
    st(dx, e, ld(grad, nc) * inv);
  }
}

#define TC_GAP(S, T)                                                                                \
  extern "C" __global__ void global_avg_pool2d_##S(const T* x, T* y, i64 N, i64 C, i64 HW, i64 nhwc) { \
    gap_body(x, y, N, C, HW, nhwc);                                                                 \
  }                                                                                                 \
  extern "C" __global__ void global_avg_pool2d_backward_##S(const T* g, T* dx, i64 N, i64 C, i64 HW, \
                                                            i64 nhwc) {                             \
    gap_backward_body(g, dx, N, C, HW, nhwc);                                                       \
  }                                                                                                 \
  TC_REGISTER(global_avg_pool2d_##S) TC_REGISTER(global_avg_pool2d_backward_##S)
TC_FOR_FLOATS(TC_GAP)
#undef TC_GAP
