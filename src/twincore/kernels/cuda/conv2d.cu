// conv2d as implicit GEMM on the shared GEMM (gemm.cuh): the im2col matrices are never
// built; loaders compute each element's address (or 0 in the padding) on the fly.
// Geometry as cpp/core/geometry.cc (padding resolved by the host: pt, pl = top/left).
// x NCHW [N,C,H,W] with w OIHW [O,C,KH,KW]; x NHWC [N,H,W,C] with w HWIO [KH,KW,C,O].
//
//            layout  GEMM (M x N, reduce K)                            grid z / r
// forward    NHWC    Y[N*OH*OW, O] = im2col(x)[., KH*KW*C] . W[KH*KW*C, O]     1 / 1
//            NCHW    Y[n][O, OH*OW] = W[O, C*KH*KW] . im2col(x[n])^T           N / 1
// d weight   NHWC    dW[KH*KW*C, O] = im2col(x)^T . dY[N*OH*OW, O]             1 / 1
//            NCHW    dW[O, C*KH*KW] = sum_n dY[n][O, OH*OW] . im2col(x[n])     1 / N
// d input    NHWC    dX[N*H*W, C] = col(dY)[., KH*KW*O] . W'[KH*KW*O, C]       1 / 1
//            NCHW    dX[n][C, H*W] = W'[C, O*KH*KW] . col(dY[n])               N / 1
// d input is the transposed convolution: input pixel ih gets output oh when
// ih + pt - kh*dh = oh*sh exactly (the taps that hit no output read 0).
// The host sizes the grid from the table with the GEMM tile of gemm.cuh.
#include "gemm.cuh"

struct Geo {
  i64 N, C, H, W, O, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl;
};

// x value at input (n, c, ih, iw) for output (oh, ow) and tap (kh, kw), or 0 in the padding.
template <typename T>
__device__ __forceinline__ typename Acc<T>::type x_at(const T* x, const Geo& g, bool nhwc, i64 n, i64 c, i64 oh,
                                                      i64 ow, i64 kh, i64 kw) {
  const i64 ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return 0;
  return ld(x, nhwc ? ((n * g.H + ih) * g.W + iw) * g.C + c : ((n * g.C + c) * g.H + ih) * g.W + iw);
}
// dy value at output (n, o, oh, ow) reached from input (ih, iw) through tap (kh, kw), or 0.
template <typename T>
__device__ __forceinline__ typename Acc<T>::type dy_at(const T* dy, const Geo& g, bool nhwc, i64 n, i64 o, i64 ih,
                                                       i64 iw, i64 kh, i64 kw) {
  const i64 th = ih + g.pt - kh * g.dh, tw = iw + g.pl - kw * g.dw;
  if (th < 0 || tw < 0 || th % g.sh || tw % g.sw) return 0;
  const i64 oh = th / g.sh, ow = tw / g.sw;
  if (oh >= g.OH || ow >= g.OW) return 0;
  return ld(dy, nhwc ? ((n * g.OH + oh) * g.OW + ow) * g.O + o : ((n * g.O + o) * g.OH + oh) * g.OW + ow);
}

// NHWC im2col: row m = (n, oh, ow), column k = (kh, kw, c). transposed = 1 swaps the roles.
template <typename T>
struct Im2colNHWC {
  const T* x;
  Geo g;
  bool transposed;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64, i64, i64 i, i64 j) const {
    const i64 m = transposed ? j : i, k = transposed ? i : j;
    const i64 ow = m % g.OW, oh = (m / g.OW) % g.OH, n = m / (g.OW * g.OH);
    const i64 c = k % g.C, kw = (k / g.C) % g.KW, kh = k / (g.C * g.KW);
    return x_at(x, g, true, n, c, oh, ow, kh, kw);
  }
  __device__ __forceinline__ bool fast() const { return !transposed; }
};
// NCHW im2col of image z (or r when by_r): row k = (c, kh, kw), column p = (oh, ow).
// transposed = 1 gives (p, k) instead.
template <typename T>
struct Im2colNCHW {
  const T* x;
  Geo g;
  bool transposed, by_r;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64 z, i64 r, i64 i, i64 j) const {
    const i64 k = transposed ? j : i, p = transposed ? i : j;
    const i64 kw = k % g.KW, kh = (k / g.KW) % g.KH, c = k / (g.KW * g.KH);
    return x_at(x, g, false, by_r ? r : z, c, p / g.OW, p % g.OW, kh, kw);
  }
  __device__ __forceinline__ bool fast() const { return !transposed; }
};
// NHWC col(dY): row m = (n, ih, iw), column k = (kh, kw, o).
template <typename T>
struct ColNHWC {
  const T* dy;
  Geo g;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64, i64, i64 m, i64 k) const {
    const i64 iw = m % g.W, ih = (m / g.W) % g.H, n = m / (g.W * g.H);
    const i64 o = k % g.O, kw = (k / g.O) % g.KW, kh = k / (g.O * g.KW);
    return dy_at(dy, g, true, n, o, ih, iw, kh, kw);
  }
  __device__ __forceinline__ bool fast() const { return true; }
};
// NCHW col(dY[z]): row k = (o, kh, kw), column p = (ih, iw).
template <typename T>
struct ColNCHW {
  const T* dy;
  Geo g;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64 z, i64, i64 k, i64 p) const {
    const i64 kw = k % g.KW, kh = (k / g.KW) % g.KH, o = k / (g.KW * g.KH);
    return dy_at(dy, g, false, z, o, p / g.W, p % g.W, kh, kw);
  }
  __device__ __forceinline__ bool fast() const { return true; }
};
// W' for d input. NHWC: (k = (kh, kw, o), c) -> w[kh, kw, c, o]. NCHW: (c, k = (o, kh, kw)) -> w[o, c, kh, kw].
template <typename T>
struct WeightT {
  const T* w;
  Geo g;
  bool nhwc;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64, i64, i64 i, i64 j) const {
    if (nhwc) {
      const i64 o = i % g.O, kw = (i / g.O) % g.KW, kh = i / (g.O * g.KW);
      return ld(w, ((kh * g.KW + kw) * g.C + j) * g.O + o);
    }
    const i64 kw = j % g.KW, kh = (j / g.KW) % g.KH, o = j / (g.KW * g.KH);
    return ld(w, ((o * g.C + i) * g.KH + kh) * g.KW + kw);
  }
  __device__ __forceinline__ bool fast() const { return false; }
};

#define TC_GEO_PARAMS i64 N, i64 C, i64 H, i64 W, i64 O, i64 KH, i64 KW, i64 OH, i64 OW, i64 sh, i64 sw, \
                      i64 dh, i64 dw, i64 pt, i64 pl
#define TC_GEO {N, C, H, W, O, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl}

template <typename T>
__device__ __forceinline__ void conv_fwd_body(const T* x, const T* w, const T* bias, T* y, const Geo& g, i64 nhwc,
                                              i64 tf32) {
  const i64 P = g.OH * g.OW, K = g.C * g.KH * g.KW;
  if (nhwc) {
    Im2colNHWC<T> la = {x, g, false};
    MatLoad<T> lb = {w, g.O, 1, 0, 0};
    Epilogue<T> ep = {y, g.O, 0, bias, 0, 0};
    gemm_dispatch(la, lb, ep, g.N * P, g.O, K, 1, tf32 != 0);
  } else {
    MatLoad<T> la = {w, K, 1, 0, 0};
    Im2colNCHW<T> lb = {x, g, false, false};
    Epilogue<T> ep = {y, P, g.O * P, bias, 1, 0};
    gemm_dispatch(la, lb, ep, g.O, P, K, 1, tf32 != 0);
  }
}
template <typename T>
__device__ __forceinline__ void conv_dw_body(const T* dy, const T* x, T* dw, const Geo& g, i64 nhwc, i64 tf32) {
  const i64 P = g.OH * g.OW, K = g.C * g.KH * g.KW;
  if (nhwc) {
    Im2colNHWC<T> la = {x, g, true};
    MatLoad<T> lb = {dy, g.O, 1, 0, 0};
    Epilogue<T> ep = {dw, g.O, 0, nullptr, 0, 0};
    gemm_dispatch(la, lb, ep, K, g.O, g.N * P, 1, tf32 != 0);
  } else {
    MatLoad<T> la = {dy, P, 1, 0, g.O * P};
    Im2colNCHW<T> lb = {x, g, true, true};
    Epilogue<T> ep = {dw, K, 0, nullptr, 0, 0};
    gemm_dispatch(la, lb, ep, g.O, K, P, g.N, tf32 != 0);
  }
}
template <typename T>
__device__ __forceinline__ void conv_dx_body(const T* dy, const T* w, T* dx, const Geo& g, i64 nhwc, i64 tf32) {
  const i64 K = g.O * g.KH * g.KW, HW = g.H * g.W;
  WeightT<T> wt = {w, g, nhwc != 0};
  if (nhwc) {
    ColNHWC<T> la = {dy, g};
    Epilogue<T> ep = {dx, g.C, 0, nullptr, 0, 0};
    gemm_dispatch(la, wt, ep, g.N * HW, g.C, K, 1, tf32 != 0);
  } else {
    ColNCHW<T> lb = {dy, g};
    Epilogue<T> ep = {dx, HW, g.C * HW, nullptr, 0, 0};
    gemm_dispatch(wt, lb, ep, g.C, HW, K, 1, tf32 != 0);
  }
}
// dbias[o] = sum of dY over n and pixels: one block per o (grid-stride), threads stride over
// (n, p), then a fixed-order block sum (deterministic).
template <typename T>
__device__ __forceinline__ void conv_db_body(const T* dy, T* db, i64 N, i64 O, i64 P, i64 nhwc) {
  typedef typename Acc<T>::type A;
  __shared__ A scratch[32];
  for (i64 o = blockIdx.x; o < O; o += gridDim.x) {
    A s = 0;
    for (i64 e = threadIdx.x; e < N * P; e += blockDim.x) {
      const i64 n = e / P, p = e % P;
      s += ld(dy, nhwc ? (n * P + p) * O + o : (n * O + o) * P + p);
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) st(db, o, s);
  }
}

#define TC_CONV(S, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(256) conv2d_##S(const T* x, const T* w, const T* bias, \
      T* y, TC_GEO_PARAMS, i64 nhwc, i64 tf32) {                                                    \
    Geo g = TC_GEO;                                                                                 \
    conv_fwd_body(x, w, bias, y, g, nhwc, tf32);                                                    \
  }                                                                                                 \
  extern "C" __global__ void __launch_bounds__(256) conv2d_backward_weight_##S(const T* dy,         \
      const T* x, T* dweight, TC_GEO_PARAMS, i64 nhwc, i64 tf32) {                                       \
    Geo g = TC_GEO;                                                                                 \
    conv_dw_body(dy, x, dweight, g, nhwc, tf32);                                                         \
  }                                                                                                 \
  extern "C" __global__ void __launch_bounds__(256) conv2d_backward_input_##S(const T* dy,          \
      const T* w, T* dx, TC_GEO_PARAMS, i64 nhwc, i64 tf32) {                                       \
    Geo g = TC_GEO;                                                                                 \
    conv_dx_body(dy, w, dx, g, nhwc, tf32);                                                         \
  }                                                                                                 \
  extern "C" __global__ void conv2d_backward_bias_##S(const T* dy, T* db, i64 N, i64 O, i64 P,      \
                                                      i64 nhwc) {                                   \
    conv_db_body(dy, db, N, O, P, nhwc);                                                            \
  }                                                                                                 \
  TC_REGISTER(conv2d_##S) TC_REGISTER(conv2d_backward_weight_##S)                                   \
  TC_REGISTER(conv2d_backward_input_##S) TC_REGISTER(conv2d_backward_bias_##S)
TC_FOR_FLOATS(TC_CONV)
#undef TC_CONV

// ---- conv2d as GEMM on the vendor GEMM (cpp/gpu/conv2d_gemm.cc plans these) -------------
// The im2col buffer is built explicitly (in chunks of nb images starting at image n0) and
// the GEMM runs on cuBLASLt; these kernels are the memory-bound glue around it: im2col,
// the deterministic col2im gather (no atomics), a [nb, O, P] -> [O, nb, P] transpose of dY
// for the NCHW weight gradient, and the per-channel bias + activation pass.
// act: 0 none, 1 relu, 2 tanh (cpu/activations.h's Act).

// Index arithmetic: a 64-bit division costs several times a 32-bit one and these kernels
// do about six per element, so they run in 32 bits (I = unsigned) whenever every index of
// the launch fits, and in 64 bits (I = i64) otherwise (the entry points choose).
// NHWC col[(j*OH + oh)*OW + ow][(kh*KW + kw)*C + c] = x[n0 + j, ih, iw, c] (0 in the padding).
template <typename I, typename T>
__device__ __forceinline__ void im2col_nhwc_body(const T* x, T* col, const Geo& g, i64 n0, i64 nb) {
  const I C = I(g.C), KW = I(g.KW), OW = I(g.OW), OH = I(g.OH), K = I(g.KH * g.KW * g.C);
  const i64 rows = nb * g.OH * g.OW;
  TC_GRID_LOOP(e, rows * i64(K)) {
    const I k = I(e) % K, m = I(e) / K;
    const I c = k % C, kw = (k / C) % KW, kh = k / (C * KW);
    const I ow = m % OW, oh = (m / OW) % OH, j = m / (OW * OH);
    st(col, e, x_at(x, g, true, n0 + j, c, oh, ow, kh, kw));
  }
}
// NCHW, k = (c*KH + kh)*KW + kw, p = oh*OW + ow:
//   by_image = 1: col[j][k][p] (the forward's batched B operands, one [K, P] per image);
//   by_image = 0: col[k][j*P + p] (one [K, nb*P] matrix: the weight gradient's K = nb*P).
template <typename I, typename T>
__device__ __forceinline__ void im2col_nchw_body(const T* x, T* col, const Geo& g, i64 n0, i64 nb, i64 by_image) {
  const I K = I(g.C * g.KH * g.KW), P = I(g.OH * g.OW), NB = I(nb), KH = I(g.KH), KW = I(g.KW), OW = I(g.OW);
  TC_GRID_LOOP(e, nb * i64(K) * i64(P)) {
    const I ei = I(e);
    I j, k, p;
    if (by_image) {
      p = ei % P; k = (ei / P) % K; j = ei / (P * K);
    } else {
      p = ei % P; j = (ei / P) % NB; k = ei / (P * NB);
    }
    const I kw = k % KW, kh = (k / KW) % KH, c = k / (KW * KH);
    st(col, e, x_at(x, g, false, n0 + j, c, p / OW, p % OW, kh, kw));
  }
}
// dx[n0 + j] = col2im(dcol): each input element gathers the taps that read it, in a fixed
// order (deterministic). NHWC dcol [(j, oh, ow)][(kh, kw, c)]; NCHW dcol [j][(c, kh, kw)][(oh, ow)].
template <typename I, typename T>
__device__ __forceinline__ void col2im_body(const T* dcol, T* dx, const Geo& g, i64 n0, i64 nb, i64 nhwc) {
  typedef typename Acc<T>::type A;
  const I C = I(g.C), H = I(g.H), W = I(g.W), per = I(g.C * g.H * g.W);
  const i64 K = g.KH * g.KW * g.C, P = g.OH * g.OW;
  TC_GRID_LOOP(e, nb * i64(per)) {
    const I ei = I(e);
    I j, c, ih, iw;
    if (nhwc) {
      c = ei % C; iw = (ei / C) % W; ih = (ei / (C * W)) % H; j = ei / per;
    } else {
      iw = ei % W; ih = (ei / W) % H; c = (ei / (W * H)) % C; j = ei / per;
    }
    A s = 0;
    for (i64 kh = 0; kh < g.KH; ++kh) {
      const i64 th = i64(ih) + g.pt - kh * g.dh;
      if (th < 0 || th % g.sh) continue;
      const i64 oh = th / g.sh;
      if (oh >= g.OH) continue;
      for (i64 kw = 0; kw < g.KW; ++kw) {
        const i64 tw = i64(iw) + g.pl - kw * g.dw;
        if (tw < 0 || tw % g.sw) continue;
        const i64 ow = tw / g.sw;
        if (ow >= g.OW) continue;
        const i64 p = oh * g.OW + ow;
        s += nhwc ? ld(dcol, (i64(j) * P + p) * K + (kh * g.KW + kw) * g.C + c)
                  : ld(dcol, (i64(j) * K + (i64(c) * g.KH + kh) * g.KW + kw) * P + p);
      }
    }
    st(dx, n0 * i64(per) + e, s);
  }
}
// dst[o][j][p] = src[j][o][p]: NCHW dY of nb images as one [O, nb*P] matrix.
template <typename T>
__device__ __forceinline__ void to_cnhw_body(const T* src, T* dst, i64 nb, i64 O, i64 P) {
  TC_GRID_LOOP(e, nb * O * P) {
    const i64 p = e % P, j = (e / P) % nb, o = e / (P * nb);
    dst[e] = src[(j * O + o) * P + p];
  }
}
// y = act(y + bias[channel]) in place; channel = e % O (NHWC) or (e / P) % O (NCHW).
template <typename T>
__device__ __forceinline__ void bias_act_body(T* y, const T* bias, i64 total, i64 O, i64 P, i64 nhwc, i64 act) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(e, total) {
    A v = ld(y, e);
    if (bias) v += ld(bias, nhwc ? e % O : (e / P) % O);
    if (act == 1) v = v > A(0) ? v : (v != v ? v : A(0));
    else if (act == 2) v = tc_tanh(v);
    st(y, e, v);
  }
}
// out = g * act'(y): relu' = (y > 0), tanh' = 1 - y^2 (y is the activation's output).
template <typename T>
__device__ __forceinline__ void act_grad_body(const T* g, const T* y, T* out, i64 n, i64 act) {
  typedef typename Acc<T>::type A;
  TC_GRID_LOOP(e, n) {
    const A yv = ld(y, e), gv = ld(g, e);
    st(out, e, act == 1 ? (yv > A(0) ? gv : A(0)) : gv * (A(1) - yv * yv));
  }
}

#define TC_CONV_GEMM(S, T)                                                                                  \
  extern "C" __global__ void conv2d_im2col_nhwc_##S(const T* x, T* col, TC_GEO_PARAMS, i64 n0, i64 nb) {   \
    Geo g = TC_GEO;                                                                                         \
    if (nb * OH * OW * KH * KW * C < (1LL << 31)) im2col_nhwc_body<unsigned>(x, col, g, n0, nb);            \
    else im2col_nhwc_body<i64>(x, col, g, n0, nb);                                                          \
  }                                                                                                         \
  extern "C" __global__ void conv2d_im2col_nchw_##S(const T* x, T* col, TC_GEO_PARAMS, i64 n0, i64 nb,     \
                                                    i64 by_image) {                                         \
    Geo g = TC_GEO;                                                                                         \
    if (nb * OH * OW * KH * KW * C < (1LL << 31)) im2col_nchw_body<unsigned>(x, col, g, n0, nb, by_image);  \
    else im2col_nchw_body<i64>(x, col, g, n0, nb, by_image);                                                \
  }                                                                                                         \
  extern "C" __global__ void conv2d_col2im_##S(const T* dcol, T* dx, TC_GEO_PARAMS, i64 n0, i64 nb,        \
                                               i64 nhwc) {                                                  \
    Geo g = TC_GEO;                                                                                         \
    if (nb * C * H * W < (1LL << 31)) col2im_body<unsigned>(dcol, dx, g, n0, nb, nhwc);                     \
    else col2im_body<i64>(dcol, dx, g, n0, nb, nhwc);                                                       \
  }                                                                                                         \
  extern "C" __global__ void conv2d_to_cnhw_##S(const T* src, T* dst, i64 nb, i64 O, i64 P) {              \
    to_cnhw_body(src, dst, nb, O, P);                                                                       \
  }                                                                                                         \
  extern "C" __global__ void conv2d_bias_act_##S(T* y, const T* bias, i64 total, i64 O, i64 P, i64 nhwc,    \
                                                 i64 act) {                                                 \
    bias_act_body(y, bias, total, O, P, nhwc, act);                                                         \
  }                                                                                                         \
  extern "C" __global__ void conv2d_act_grad_##S(const T* g, const T* y, T* out, i64 n, i64 act) {         \
    act_grad_body(g, y, out, n, act);                                                                       \
  }                                                                                                         \
  TC_REGISTER(conv2d_im2col_nhwc_##S) TC_REGISTER(conv2d_im2col_nchw_##S) TC_REGISTER(conv2d_col2im_##S)   \
  TC_REGISTER(conv2d_to_cnhw_##S) TC_REGISTER(conv2d_bias_act_##S) TC_REGISTER(conv2d_act_grad_##S)
TC_FOR_FLOATS(TC_CONV_GEMM)
#undef TC_CONV_GEMM
