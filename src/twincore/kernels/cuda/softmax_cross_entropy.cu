// Fused softmax cross-entropy: loss and dlogits of logits [N, C] in one kernel, one
// block per row (grid-stride over rows). Pass 1 reads the row once for an online
// (max m, sum of exp(x - m)) -- and S = sum of targets for probability labels; pass 2
// reads it again to write dlogits and the target term. Works in shifted logits z = x - m,
// so logits of +-1e4 lose nothing: loss = S * log(sum exp z) - sum t z,
// dlogits = (S * softmax - t) * scale, t = (1 - s) * onehot / p + s / C (label smoothing s).
// Per-row losses go to `rows` (T, reduction "none") or to `part` (double, for the
// deterministic mean/sum by softmax_cross_entropy_finish). A label outside [0, C)
// gives a NaN loss and a NaN dlogits row (the CPU kernel raises; a GPU kernel cannot
// without a device->host sync). dl may be null (loss only). For class ids and
// C <= 32 * 1024, softmax_cross_entropy_reg_* below reads the logits once (registers).
#include "rows.cuh"

template <typename T, typename L>
__device__ __forceinline__ void sce_int_body(const T* x, const L* labels, i64 N, i64 C, double smooth,
                                             double scale, T* rows, double* part, T* dl) {
  typedef typename Acc<T>::type A;
  __shared__ A scratch[32];
  const A s = A(smooth), off = A(smooth / double(C)), sc = A(scale);
  for (i64 r = blockIdx.x; r < N; r += gridDim.x) {
    const T* xr = x + r * C;
    A m, se;
    row_stats(xr, C, m, se);
    const i64 y = i64(labels[r]);
    const bool ok = y >= 0 && y < C;
    const A inv = A(1) / se;
    A zs = 0;
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) {
      A z = ld(xr, j) - m;
      zs += z;
      if (dl) {
        A d = tc_exp(z) * inv * sc - off * sc;
        if (j == y) d -= (A(1) - s) * sc;
        st(dl + r * C, j, ok ? d : tc_nan<A>());
      }
    }
    if (s != A(0)) zs = block_sum(zs, scratch);
    if (threadIdx.x == 0) {
      A tz = (ok && s < A(1)) ? (A(1) - s) * (ld(xr, y) - m) : A(0);  // s = 1: no 0 * -inf
      if (s != A(0)) tz += off * zs;
      A loss = ok ? tc_log(se) - tz : tc_nan<A>();
      if (part) part[r] = double(loss);
      else st(rows, r, loss);
    }
  }
}

template <typename T>
__device__ __forceinline__ void sce_prob_body(const T* x, const T* p, i64 N, i64 C, double smooth,
                                              double scale, T* rows, double* part, T* dl) {
  typedef typename Acc<T>::type A;
  __shared__ A scratch[32];
  const A keep = A(1.0 - smooth), off = A(smooth / double(C)), sc = A(scale);
  for (i64 r = blockIdx.x; r < N; r += gridDim.x) {
    const T* xr = x + r * C;
    const T* pr = p + r * C;
    A m, se, S = 0;
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) S += keep * ld(pr, j) + off;
    S = block_sum(S, scratch);
    row_stats(xr, C, m, se);
    const A k = S * sc / se;
    A tz = 0;
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) {
      A z = ld(xr, j) - m, t = keep * ld(pr, j) + off;
      tz += t != A(0) ? t * z : A(0);  // a zero target against a -inf logit adds 0, not NaN
      if (dl) st(dl + r * C, j, tc_exp(z) * k - t * sc);
    }
    tz = block_sum(tz, scratch);
    if (threadIdx.x == 0) {
      A loss = S * tc_log(se) - tz;
      if (part) part[r] = double(loss);
      else st(rows, r, loss);
    }
  }
}

// At the memory limit (issue 14): ONE read of the logits and one write of dlogits, for class
// ids and rows of C <= TC_SCE_REG * blockDim.x (32 * 1024 = 32768 classes with 1024 threads).
// Each thread keeps its TC_SCE_REG elements of the row in registers between the row
// statistics and the gradient, so dl may alias x: the in-place gradient (the caller opts in
// and, for torch, bumps the tensor's version counter). The target logit is captured while
// loading; every write comes after the block reductions, i.e. after every read of the row.
// Same results as sce_int_body (NaN rows, -inf logits, label smoothing, the part/rows split).
#define TC_SCE_REG 32
template <typename A>
__device__ __forceinline__ A block_max(A v, A* scratch) {
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[wid] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -tc_inf<A>();
  return warp_max(v);
}
template <typename T, typename L>
__device__ __forceinline__ void sce_reg_body(const T* x, const L* labels, i64 N, i64 C, double smooth,
                                             double scale, T* rows, double* part, T* dl) {
  typedef typename Acc<T>::type A;
  __shared__ A scratch[32];
  __shared__ A xy;
  const A s = A(smooth), off = A(smooth / double(C)), sc = A(scale), ninf = -tc_inf<A>();
  for (i64 r = blockIdx.x; r < N; r += gridDim.x) {
    const T* xr = x + r * C;
    const i64 y = i64(labels[r]);
    const bool ok = y >= 0 && y < C;
    __syncthreads();  // xy of the previous row has been read
    A v[TC_SCE_REG];
    A m = ninf;
#pragma unroll
    for (int i = 0; i < TC_SCE_REG; ++i) {
      const i64 j = threadIdx.x + i64(i) * blockDim.x;
      v[i] = j < C ? ld(xr, j) : ninf;
      if (j == y) xy = v[i];
      m = (v[i] > m || v[i] != v[i]) ? v[i] : m;  // NaN sticks
    }
    m = block_max(m, scratch);
    A se = 0, zs = 0;
#pragma unroll
    for (int i = 0; i < TC_SCE_REG; ++i) {
      const i64 j = threadIdx.x + i64(i) * blockDim.x;
      if (j < C) {
        se += v[i] == ninf ? A(0) : tc_exp(v[i] - m);
        zs += v[i] - m;
      }
    }
    se = block_sum(se, scratch);  // its barriers also order every load of the row before any store
    if (s != A(0)) zs = block_sum(zs, scratch);
    const A inv = A(1) / se;
    if (dl) {
#pragma unroll
      for (int i = 0; i < TC_SCE_REG; ++i) {
        const i64 j = threadIdx.x + i64(i) * blockDim.x;
        if (j < C) {
          A d = (v[i] == ninf ? A(0) : tc_exp(v[i] - m)) * inv * sc - off * sc;
          if (j == y) d -= (A(1) - s) * sc;
          st(dl + r * C, j, ok ? d : tc_nan<A>());
        }
      }
    }
    if (threadIdx.x == 0) {
      A tz = (ok && s < A(1)) ? (A(1) - s) * (xy - m) : A(0);
      if (s != A(0)) tz += off * zs;
      A loss = ok ? tc_log(se) - tz : tc_nan<A>();
      if (part) part[r] = double(loss);
      else st(rows, r, loss);
    }
  }
}

#define TC_SCE(S, T)                                                                               \
  extern "C" __global__ void softmax_cross_entropy_##S##_i32(const T* x, const int* lab, i64 N, i64 C, \
      double smooth, double scale, T* rows, double* part, T* dl) {                                 \
    sce_int_body(x, lab, N, C, smooth, scale, rows, part, dl);                                     \
  }                                                                                                \
  extern "C" __global__ void softmax_cross_entropy_##S##_i64(const T* x, const i64* lab, i64 N, i64 C, \
      double smooth, double scale, T* rows, double* part, T* dl) {                                 \
    sce_int_body(x, lab, N, C, smooth, scale, rows, part, dl);                                     \
  }                                                                                                \
  extern "C" __global__ void softmax_cross_entropy_##S##_prob(const T* x, const T* p, i64 N, i64 C, \
      double smooth, double scale, T* rows, double* part, T* dl) {                                 \
    sce_prob_body(x, p, N, C, smooth, scale, rows, part, dl);                                      \
  }                                                                                                \
  extern "C" __global__ void softmax_cross_entropy_finish_##S(const double* part, i64 n, double scale, \
                                                               T* out) {                           \
    finish_sum(part, n, scale, out);                                                               \
  }                                                                                                \
  extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_reg_##S##_i32(const T* x,  \
      const int* lab, i64 N, i64 C, double smooth, double scale, T* rows, double* part, T* dl) {      \
    sce_reg_body(x, lab, N, C, smooth, scale, rows, part, dl);                                     \
  }                                                                                                \
  extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_reg_##S##_i64(const T* x,  \
      const i64* lab, i64 N, i64 C, double smooth, double scale, T* rows, double* part, T* dl) {      \
    sce_reg_body(x, lab, N, C, smooth, scale, rows, part, dl);                                     \
  }                                                                                                \
  TC_REGISTER(softmax_cross_entropy_reg_##S##_i32) TC_REGISTER(softmax_cross_entropy_reg_##S##_i64) \
  TC_REGISTER(softmax_cross_entropy_##S##_i32) TC_REGISTER(softmax_cross_entropy_##S##_i64)       \
  TC_REGISTER(softmax_cross_entropy_##S##_prob) TC_REGISTER(softmax_cross_entropy_finish_##S)
TC_FOR_FLOATS(TC_SCE)
#undef TC_SCE
