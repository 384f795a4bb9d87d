// LSTM's fused pointwise kernels on the GPU; the plan (cpp/gpu/lstm.cc) runs the GEMMs
// (cuBLASLt, or matmul.cu's kernels as the fallback) between them. Layout as the CPU
// kernel's (cpp/cpu/lstm.h): gates i, f, g, o; w_ih [4H, I], w_hh [4H, H], one bias [4H];
// rows (t, b) of x / y / ws / dg at t * st + b * sb (time major: st = B, sb = 1; batch
// first: st = 1, sb = T); ws row = [i f g o activated | c_t | h_{t-1}] (6H).
//
// Forward:  lstm_prepare; GEMM x @ w_ih^T onto ws (beta 1); per step t: GEMM h_{t-1} @
//           w_hh^T onto step t's gate rows, then lstm_cell (t).
// Backward: lstm_state_init; per step t (T-1 .. 0): lstm_cell_backward (t), GEMM
//           dh = dg_t @ w_hh; then GEMMs dx, dw_ih, dw_hh over all rows; lstm_bias_grad;
//           lstm_state_out for dc0.
// Math in float (double for f64); the carried cell gradient dc is a float buffer for
// f16/bf16.
#include "common.cuh"

template <typename A>
__device__ __forceinline__ A sigm(A x) { return A(1) / (A(1) + tc_exp(-x)); }

// ws gate rows <- bias (or 0); the t = 0 rows' h_{t-1} slot <- h0 (or 0).
template <typename T>
__device__ __forceinline__ void prepare_body(T* ws, const T* bias, const T* h0, i64 steps, i64 B, i64 H, i64 sb) {
  typedef typename Acc<T>::type A;
  const i64 G = 4 * H, W = 6 * H, rows = steps * B;
  TC_GRID_LOOP(i, rows * G + B * H) {
    if (i < rows * G) {
      const i64 r = i / G, j = i - r * G;
      if (bias) ws[r * W + j] = bias[j];
      else st(ws, r * W + j, A(0));
    } else {
      const i64 k = i - rows * G, b = k / H, j = k - b * H;
      T* dst = ws + (b * sb) * W + 5 * H + j;  // row (0, b)
      if (h0) *dst = h0[b * H + j];
      else st(dst, 0, A(0));
    }
  }
}

template <typename T>
__device__ __forceinline__ void cell_body(T* ws, const T* c0, T* y, T* hn, T* cn, i64 t, i64 steps, i64 B, i64 H,
                                          i64 st_, i64 sb) {
  typedef typename Acc<T>::type A;
  const i64 W = 6 * H;
  TC_GRID_LOOP(k, B * H) {
    const i64 b = k / H, j = k - b * H, row = t * st_ + b * sb;
    T* g = ws + row * W;
    const A cp = t > 0 ? ld(ws, (row - st_) * W + 4 * H + j) : (c0 ? ld(c0, b * H + j) : A(0));
    const A i = sigm(ld(g, j)), f = sigm(ld(g, H + j)), u = tc_tanh(ld(g, 2 * H + j)), o = sigm(ld(g, 3 * H + j));
    const A c = f * cp + i * u, h = o * tc_tanh(c);
    st(g, j, i), st(g, H + j, f), st(g, 2 * H + j, u), st(g, 3 * H + j, o), st(g, 4 * H + j, c);
    if (t + 1 < steps) st(ws, (row + st_) * W + 5 * H + j, h);
    else st(hn, b * H + j, h), st(cn, b * H + j, c);
    if (y) st(y, row * H + j, h);
  }
}

// dc <- dc_n (or 0), in the accumulator type.
template <typename T>
__device__ __forceinline__ void state_init_body(const T* dc_n, typename Acc<T>::type* dc, i64 n) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(i, n) dc[i] = dc_n ? ld(dc_n, i) : A(0);
}

// dh: the carried gradient of h_t (dg_{t+1} @ w_hh, or grad_h_n at t = T-1; null = 0);
// dy: grad of y (null when only the last state was returned).
template <typename T>
__device__ __forceinline__ void cell_backward_body(const T* ws, const T* c0, const T* dy, const T* dh,
                                                   typename Acc<T>::type* dc, T* dg, i64 t, i64 B, i64 H, i64 st_,
                                                   i64 sb) {
  typedef typename Acc<T>::type A;
  const i64 W = 6 * H;
  TC_GRID_LOOP(k, B * H) {
    const i64 b = k / H, j = k - b * H, row = t * st_ + b * sb;
    const T* g = ws + row * W;
    const A i = ld(g, j), f = ld(g, H + j), u = ld(g, 2 * H + j), o = ld(g, 3 * H + j);
    const A cp = t > 0 ? ld(ws, (row - st_) * W + 4 * H + j) : (c0 ? ld(c0, b * H + j) : A(0));
    const A tc = tc_tanh(ld(g, 4 * H + j));
    const A dhv = (dh ? ld(dh, b * H + j) : A(0)) + (dy ? ld(dy, row * H + j) : A(0));
    const A dcv = dc[k] + dhv * o * (A(1) - tc * tc);
    T* d = dg + row * 4 * H;
    st(d, j, dcv * u * i * (A(1) - i));
    st(d, H + j, dcv * cp * f * (A(1) - f));
    st(d, 2 * H + j, dcv * i * (A(1) - u * u));
    st(d, 3 * H + j, dhv * tc * o * (A(1) - o));
    dc[k] = dcv * f;
  }
}

template <typename T>
__device__ __forceinline__ void state_out_body(const typename Acc<T>::type* dc, T* out, i64 n) {
  TC_GRID_LOOP(i, n) st(out, i, dc[i]);
}

// dbias[j] = sum over rows of dg[r, j]: one thread per column, rows in order (deterministic).
template <typename T>
__device__ __forceinline__ void bias_grad_body(const T* dg, T* db, i64 rows, i64 G) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(j, G) {
    A s = A(0);
    for (i64 r = 0; r < rows; ++r) s += ld(dg, r * G + j);
    st(db, j, s);
  }
}

#define TC_LSTM(S, T)                                                                                        \
  extern "C" __global__ void lstm_prepare_##S(T* ws, const T* bias, const T* h0, i64 steps, i64 B, i64 H,     \
                                              i64 sb) {                                                      \
    prepare_body(ws, bias, h0, steps, B, H, sb);                                                         \
  }                                                                                                          \
  extern "C" __global__ void lstm_cell_##S(T* ws, const T* c0, T* y, T* hn, T* cn, i64 t, i64 steps, i64 B,   \
                                           i64 H, i64 st, i64 sb) {                                          \
    cell_body(ws, c0, y, hn, cn, t, steps, B, H, st, sb);                                                    \
  }                                                                                                          \
  extern "C" __global__ void lstm_state_init_##S(const T* dc_n, Acc<T>::type* dc, i64 n) {                    \
    state_init_body(dc_n, dc, n);                                                                            \
  }                                                                                                          \
  extern "C" __global__ void lstm_cell_backward_##S(const T* ws, const T* c0, const T* dy, const T* dh,       \
                                                    Acc<T>::type* dc, T* dg, i64 t, i64 B, i64 H, i64 st,    \
                                                    i64 sb) {                                                \
    cell_backward_body(ws, c0, dy, dh, dc, dg, t, B, H, st, sb);                                             \
  }                                                                                                          \
  extern "C" __global__ void lstm_state_out_##S(const Acc<T>::type* dc, T* out, i64 n) {                      \
    state_out_body<T>(dc, out, n);                                                                           \
  }                                                                                                          \
  extern "C" __global__ void lstm_bias_grad_##S(const T* dg, T* db, i64 rows, i64 G) {                        \
    bias_grad_body(dg, db, rows, G);                                                                         \
  }                                                                                                          \
  TC_REGISTER(lstm_prepare_##S) TC_REGISTER(lstm_cell_##S) TC_REGISTER(lstm_state_init_##S)                   \
  TC_REGISTER(lstm_cell_backward_##S) TC_REGISTER(lstm_state_out_##S) TC_REGISTER(lstm_bias_grad_##S)
TC_FOR_FLOATS(TC_LSTM)
#undef TC_LSTM
