// max_pool2d (with argmax indices), NCHW and NHWC.
// Geometry (kernel kh x kw, stride sh x sw, pads pt/pl, output oh x ow) is resolved by
// the host exactly as cpp/core/geometry.cc does (TF's "same").
// max_pool2d: a cell replaces the running max if larger or NaN (torch's rule); the
// index is the flat h * W + w within the (n, c) plane, the first in-window cell when
// every cell is -inf. Backward is a gather (deterministic, no atomics): each input
// cell sums the grads of the windows that cover it and chose it.
#include "common.cuh"

struct Pool {
  i64 N, C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, nhwc;
};

// out element e -> (n, c, oh, ow) in the layout's order.
__device__ __forceinline__ void out_coords(const Pool& g, i64 e, i64& n, i64& c, i64& oh, i64& ow) {
  if (g.nhwc) {
    c = e % g.C; e /= g.C; ow = e % g.OW; e /= g.OW; oh = e % g.OH; n = e / g.OH;
  } else {
    ow = e % g.OW; e /= g.OW; oh = e % g.OH; e /= g.OH; c = e % g.C; n = e / g.C;
  }
}
__device__ __forceinline__ i64 in_offset(const Pool& g, i64 n, i64 c, i64 h, i64 w) {
  return g.nhwc ? ((n * g.H + h) * g.W + w) * g.C + c : ((n * g.C + c) * g.H + h) * g.W + w;
}

template <typename T>
__device__ __forceinline__ void max_pool_body(const T* x, T* y, i64* idx, const Pool& g) {
  typedef typename Acc<T>::type A;
  const i64 total = g.N * g.C * g.OH * g.OW;
  TC_GRID_LOOP(e, total) {
    i64 n, c, oh, ow;
    out_coords(g, e, n, c, oh, ow);
    i64 h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
    i64 h1 = min(h0 + g.kh, g.H), w1 = min(w0 + g.kw, g.W);
    h0 = max(h0, 0LL);
    w0 = max(w0, 0LL);
    A m = -tc_inf<A>();
    i64 mi = h0 * g.W + w0;
    for (i64 h = h0; h < h1; ++h)
      for (i64 w = w0; w < w1; ++w) {
        A v = ld(x, in_offset(g, n, c, h, w));
        if (v > m || v != v) {
          m = v;
          mi = h * g.W + w;
        }
      }
    st(y, e, m);
    if (idx) idx[e] = mi;
  }
}

// dx[n, c, h, w] = sum of grad over the windows (oh, ow) covering (h, w) whose index is h*W+w.
template <typename T>
__device__ __forceinline__ void max_pool_backward_body(const T* grad, const i64* idx, T* dx, const Pool& g) {
  typedef typename Acc<T>::type A;
  const i64 total = g.N * g.C * g.H * g.W;
  TC_GRID_LOOP(e, total) {
    i64 n, c, h, w, r = e;
    if (g.nhwc) {
      c = r % g.C; r /= g.C; w = r % g.W; r /= g.W; h = r % g.H; n = r / g.H;
    } else {
      w = r % g.W; r /= g.W; h = r % g.H; r /= g.H; c = r % g.C; n = r / g.C;
    }
    // windows oh with oh*sh - pt <= h < oh*sh - pt + kh
    i64 hp = h + g.pt, wp = w + g.pl;
    i64 oh0 = hp >= g.kh ? (hp - g.kh) / g.sh + 1 : 0, oh1 = min(hp / g.sh, g.OH - 1);
    i64 ow0 = wp >= g.kw ? (wp - g.kw) / g.sw + 1 : 0, ow1 = min(wp / g.sw, g.OW - 1);
    const i64 me = h * g.W + w;
    A acc = 0;
    for (i64 oh = oh0; oh <= oh1; ++oh)
      for (i64 ow = ow0; ow <= ow1; ++ow) {
        i64 o = g.nhwc ? ((n * g.OH + oh) * g.OW + ow) * g.C + c : ((n * g.C + c) * g.OH + oh) * g.OW + ow;
        if (idx[o] == me) acc += ld(grad, o);
      }
    st(dx, e, acc);
  }
}

// Without the window: each grad element adds itself at its argmax (acc zeroed by the host;
// float or double accumulator, cast to T by max_pool2d_backward_cast for f16/bf16).
template <typename T, typename A>
__device__ __forceinline__ void max_pool_scatter_body(const T* grad, const i64* idx, A* acc, i64 N, i64 C, i64 H,
                                                      i64 W, i64 OH, i64 OW, i64 nhwc) {
  const i64 total = N * C * OH * OW;
  TC_GRID_LOOP(e, total) {
    i64 c, n, r = e;
    if (nhwc) { c = r % C; n = r / (C * OH * OW); }
    else { c = (r / (OH * OW)) % C; n = r / (C * OH * OW); }
    const i64 cell = idx[e];
    if (cell < 0 || cell >= H * W) continue;  // never written by max_pool2d: ignore
    tc_atomic_add(acc + (nhwc ? (n * H * W + cell) * C + c : (n * C + c) * H * W + cell), A(ld(grad, e)));
  }
}
template <typename T, typename A>
__device__ __forceinline__ void cast_acc_body(const A* acc, T* out, i64 n) {
  TC_GRID_LOOP(i, n) st(out, i, typename Acc<T>::type(acc[i]));
}

#define TC_MAX_POOL(S, T)                                                                           \
  extern "C" __global__ void max_pool2d_##S(const T* x, T* y, i64* idx, i64 N, i64 C, i64 H, i64 W, \
      i64 OH, i64 OW, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl, i64 nhwc) {                   \
    Pool g = {N, C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, nhwc};                                    \
    max_pool_body(x, y, idx, g);                                                                    \
  }                                                                                                 \
  extern "C" __global__ void max_pool2d_backward_##S(const T* grad, const i64* idx, T* dx, i64 N,   \
      i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl, i64 nhwc) { \
    Pool g = {N, C, H, W, OH, OW, kh, kw, sh, sw, pt, pl, nhwc};                                    \
    max_pool_backward_body(grad, idx, dx, g);                                                       \
  }                                                                                                 \
  extern "C" __global__ void max_pool2d_backward_scatter_##S(const T* grad, const i64* idx,           \
      Acc<T>::type* acc, i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 nhwc) {                    \
    max_pool_scatter_body(grad, idx, acc, N, C, H, W, OH, OW, nhwc);                                \
  }                                                                                                 \
  extern "C" __global__ void max_pool2d_backward_cast_##S(const Acc<T>::type* acc, T* out, i64 n) { \
    cast_acc_body(acc, out, n);                                                                     \
  }                                                                                                 \
  TC_REGISTER(max_pool2d_##S) TC_REGISTER(max_pool2d_backward_##S)                                  \
  TC_REGISTER(max_pool2d_backward_scatter_##S) TC_REGISTER(max_pool2d_backward_cast_##S)
TC_FOR_FLOATS(TC_MAX_POOL)
#undef TC_MAX_POOL
