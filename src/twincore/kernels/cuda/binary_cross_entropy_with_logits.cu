// Fused binary cross-entropy from logits (cpu/binary_cross_entropy_with_logits.h's math):
// per element, y = (1 - s) * t + s / 2 (label smoothing s), lw = 1 + (p - 1) * y
// (p = pos_weight[i % C], or 1 when pw is null),
//   loss = (1 - y) * x + lw * softplus(-x),  softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
//   dloss/dx = ((1 - y) - lw * sigmoid(-x)) * scale        (scale = 1/M for the mean)
// Stable for logits of +-1e4. Grid-stride over the M elements; with rows != null (reduction
// "none") each loss is stored, else each block writes its loss sum to part[blockIdx.x]
// (double) and binary_cross_entropy_with_logits_finish adds the partials in a fixed order
// (deterministic for a fixed grid). dl may be null (loss only). Math in float (f64: double).
#include "common.cuh"

__device__ __forceinline__ float tc_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double tc_log1p(double x) { return log1p(x); }

template <typename T>
__device__ __forceinline__ void bce_body(const T* x, const T* t, const T* pw, i64 C, i64 M, double smooth,
                                         double scale, T* rows, double* part, T* dl) {
  typedef typename Acc<T>::type A;
  __shared__ double scratch[32];
  const A keep = A(1.0 - smooth), half = A(0.5 * smooth), sc = A(scale);
  double acc = 0;
  TC_GRID_LOOP(i, M) {
    const A xi = ld(x, i), y = keep * ld(t, i) + half;
    const A lw = pw ? A(1) + (ld(pw, C == 1 ? 0 : i % C) - A(1)) * y : A(1);
    const A e = tc_exp(xi < A(0) ? xi : -xi);  // exp(-|x|)
    const A loss = (A(1) - y) * xi + lw * (tc_log1p(e) + (xi < A(0) ? -xi : A(0)));
    if (rows) st(rows, i, loss);
    else acc += double(loss);
    if (dl) {
      const A sig_neg = xi >= A(0) ? e / (A(1) + e) : A(1) / (A(1) + e);  // sigmoid(-x)
      A d = (A(1) - y) - lw * sig_neg;
      if (sc != A(1)) d *= sc;
      st(dl, i, d);
    }
  }
  if (!rows) {
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
  }
}

#define TC_BCE(S, T)                                                                                   \
  extern "C" __global__ void binary_cross_entropy_with_logits_##S(const T* x, const T* t, const T* pw, \
      i64 C, i64 M, double smooth, double scale, T* rows, double* part, T* dl) {                       \
    bce_body(x, t, pw, C, M, smooth, scale, rows, part, dl);                                           \
  }                                                                                                    \
  extern "C" __global__ void binary_cross_entropy_with_logits_finish_##S(const double* part, i64 n,    \
                                                                         double scale, T* out) {       \
    finish_sum(part, n, scale, out);                                                                   \
  }                                                                                                    \
  TC_REGISTER(binary_cross_entropy_with_logits_##S) TC_REGISTER(binary_cross_entropy_with_logits_finish_##S)
TC_FOR_FLOATS(TC_BCE)
#undef TC_BCE
