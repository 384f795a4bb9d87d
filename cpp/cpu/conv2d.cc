#include "cpu/conv2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/half.h"
#include "core/parallel.h"
#include "cpu/conv2d_half.h"
#include "cpu/gemm.h"
#include "cpu/patches.h"
#include "cpu/transpose.h"
#include "gpu/conv2d.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

using namespace patches;  // Dims, im2col, col2im, gather_nhwc, scatter_nhwc (cpu/patches.h)

// ---------------------------------------------------------------------------
// Small inner dimension (KK < kSmallK, e.g. a 3x3 conv of a 1-channel image): a GEMM
// would spend its time packing a K of a few values, so direct loops run instead. They
// keep their accumulators in registers: kVB-byte GCC vectors, the widest each ISA path
// has (64 AVX-512, 32 AVX2, 16 baseline SSE2), set by TC_CONV_ISA_FN below.
constexpr int64_t kSmallK = 16;

#define TC_VEC(T, VB) T __attribute__((vector_size(VB)))
// The vector helpers are always inlined into one ISA's code: no vector crosses a call, so
// GCC's note that such a return "changes the ABI" does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

template <typename V, typename T>
TC_INLINE V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename T>
TC_INLINE void vstore(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}
template <typename V, typename T>
TC_INLINE T hsum(V v) {
  T s = 0;
  for (size_t i = 0; i < sizeof(V) / sizeof(T); ++i) s += v[i];
  return s;
}

// s + a * b rounded as the vector loops' `acc += a * b` is: one FMA on the AVX2/AVX-512
// paths (GCC contracts those), a multiply then an add on the generic one. Scalar tails use
// it so that an output gives the same bits whether it falls in a vector block or a tail
// (NCHW conv1 28x28 on AVX-512: 784 = 24 x 32 + 16 tail pixels; NHWC O % 2W channels).
template <int VB, typename T>
TC_INLINE T madd(T s, T a, T b) {
  if constexpr (VB >= 32) return std::fma(a, b, s);
  else return s + a * b;
}

// NCHW forward: y[M, L] = A[M, K] * col[K, L] (+ bias[m] on row m). Blocks of two vectors
// of outputs stay in registers across the K products, so y is written once.
template <typename T, int VB>
TC_INLINE void rows_small_k(const T* A, const T* col, const T* bias, T* y, int64_t M, int64_t K, int64_t L) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  for (int64_t m = 0; m < M; ++m) {
    const T b = bias ? bias[m] : T(0);
    const T* a = A + m * K;
    T* ym = y + m * L;
    int64_t l = 0;
    for (; l + 2 * W <= L; l += 2 * W) {
      V acc0 = V{} + b, acc1 = acc0;
      for (int64_t k = 0; k < K; ++k) {
        const V ak = V{} + a[k];
        acc0 += ak * vload<V>(col + k * L + l);
        acc1 += ak * vload<V>(col + k * L + l + W);
      }
      vstore(ym + l, acc0);
      vstore(ym + l + W, acc1);
    }
    for (; l < L; ++l) {
      T s = b;
      for (int64_t k = 0; k < K; ++k) s = madd<VB>(s, a[k], col[k * L + l]);
      ym[l] = s;
    }
  }
}

// NCHW dw (and dbias): dw[o, k] += sum_l g[o, l] * col[k, l]; db[o] = sum_l g[o, l]
// (db may be nullptr), for one image's g [O, L] and col [K, L]. The K + 1 row sums of
// one o stay in registers (K < kSmallK), g is read once.
template <typename T, int VB>
TC_INLINE void dw_rows_small_k(const T* G, const T* col, T* dw, T* db, int64_t O, int64_t K, int64_t L) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  for (int64_t o = 0; o < O; ++o) {
    const T* go = G + o * L;
    V acc[kSmallK], accb = V{};
#pragma GCC unroll 16
    for (int k = 0; k < kSmallK; ++k) acc[k] = V{};
    int64_t l = 0;
    for (; l + W <= L; l += W) {
      const V gv = vload<V>(go + l);
      accb += gv;
#pragma GCC unroll 16
      for (int k = 0; k < kSmallK; ++k)
        if (k < K) acc[k] += gv * vload<V>(col + k * L + l);
    }
    T sb = hsum<V, T>(accb);
    for (int64_t r = l; r < L; ++r) sb += go[r];
#pragma GCC unroll 16
    for (int k = 0; k < kSmallK; ++k)
      if (k < K) {
        T s = hsum<V, T>(acc[k]);
        for (int64_t r = l; r < L; ++r) s += go[r] * col[k * L + r];
        dw[o * K + k] += s;
      }
    if (db) db[o] = sb;
  }
}

// NHWC small-K kernels read patches straight from a zero-padded copy of the image,
// xp [PH, PW, C]: patch value k = (kh, kw, c) of output (oh, ow) is
// xp[(oh*sh*PW + ow*sw)*C + off[k]], off[k] = (kh*dh*PW + kw*dw)*C + c.

// nhwc_small_fwd for KT taps (3x3 with C = 1: conv1 of the CNN) and O a multiple of NV
// vectors: each block of NV vectors of o keeps its KT x NV weight vectors and bias in
// registers over the whole image, so a pixel costs KT broadcasts, KT x NV FMAs and NV
// stores (the loop below reloads the weights for every pixel). Each sum is taken in the
// same order (bias, then k = 0..K-1), so the bits are nhwc_small_fwd's and rows_small_k's.
template <typename T, int VB, int KT, int NV, bool RELU>
TC_INLINE void nhwc_small_fwd_regs(const T* xp, const int64_t* off, const T* Wt, const T* bias, T* y,
                                   const Window2d& g, int64_t PW, int64_t C, int64_t O) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  int64_t of[KT];
#pragma GCC unroll 16
  for (int k = 0; k < KT; ++k) of[k] = off[k];
  for (int64_t o = 0; o < O; o += NV * W) {
    V wr[KT][NV], br[NV];
#pragma GCC unroll 16
    for (int k = 0; k < KT; ++k)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wr[k][v] = vload<V>(Wt + k * O + o + v * W);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) br[v] = bias ? vload<V>(bias + o + v * W) : V{};
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const T* row = xp + oh * g.sh * PW * C;
      T* yr = y + oh * g.ow * O + o;
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const T* base = row + ow * g.sw * C;
        V acc[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[v] = br[v];
#pragma GCC unroll 16
        for (int k = 0; k < KT; ++k) {
          const V ak = V{} + base[of[k]];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[v] += ak * wr[k][v];
        }
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          if (RELU) acc[v] = acc[v] < T(0) ? V{} : acc[v];  // relu_of's rule: NaN and -0 pass
          vstore(yr + ow * O + v * W, acc[v]);
        }
      }
    }
  }
}

// NHWC forward, one image: y[(oh, ow), o] = bias[o] + sum_k patch[k] * W[k, o], then
// relu (activations.cc's rule, x < 0 ? 0 : x) on each pixel's row while it is in registers/L1.
template <typename T, int VB>
TC_INLINE void nhwc_small_fwd(const T* xp, const int64_t* off, const T* Wt, const T* bias, T* y,
                              const Window2d& g, int64_t PW, int64_t C, int64_t K, int64_t O, bool relu) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  // 9 x NV weight vectors + NV bias + NV sums + a broadcast fit the ISA's registers
  // (32 with AVX-512, 16 with AVX2/SSE2).
  constexpr int kNV = VB == 64 ? 2 : 1;
  if (K == 9 && O % (kNV * W) == 0) {
    if (relu) nhwc_small_fwd_regs<T, VB, 9, kNV, true>(xp, off, Wt, bias, y, g, PW, C, O);
    else nhwc_small_fwd_regs<T, VB, 9, kNV, false>(xp, off, Wt, bias, y, g, PW, C, O);
    return;
  }
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const T* base = xp + (oh * g.sh * PW + ow * g.sw) * C;
      T a[kSmallK];
      for (int64_t k = 0; k < K; ++k) a[k] = base[off[k]];
      T* yr = y + (oh * g.ow + ow) * O;
      int64_t o = 0;
      for (; o + 2 * W <= O; o += 2 * W) {
        V acc0 = bias ? vload<V>(bias + o) : V{}, acc1 = bias ? vload<V>(bias + o + W) : V{};
        for (int64_t k = 0; k < K; ++k) {
          const V ak = V{} + a[k];
          acc0 += ak * vload<V>(Wt + k * O + o);
          acc1 += ak * vload<V>(Wt + k * O + o + W);
        }
        vstore(yr + o, acc0);
        vstore(yr + o + W, acc1);
      }
      for (; o < O; ++o) {
        T s = bias ? bias[o] : T(0);
        for (int64_t k = 0; k < K; ++k) s = madd<VB>(s, a[k], Wt[k * O + o]);
        yr[o] = s;
      }
      if (relu)
        for (int64_t j = 0; j < O; ++j) yr[j] = yr[j] < T(0) ? T(0) : yr[j];
    }
}

// NHWC dw (and dbias), one image: dw[k, o] += sum_pix patch[k] * g[pix, o];
// db[o] = sum_pix g[pix, o] (db may be nullptr). One vector of o at a time with its
// K + 1 sums in registers; g's rows of that vector are one cache line (AVX-512 f32).
template <typename T, int VB>
TC_INLINE void nhwc_small_dw(const T* xp, const int64_t* off, const T* G, T* dw, T* db, const Window2d& g,
                             int64_t PW, int64_t C, int64_t K, int64_t O) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  int64_t o = 0;
  for (; o + W <= O; o += W) {
    V acc[kSmallK], accb = V{};
#pragma GCC unroll 16
    for (int k = 0; k < kSmallK; ++k) acc[k] = V{};
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const T* base = xp + (oh * g.sh * PW + ow * g.sw) * C;
        const V gv = vload<V>(G + (oh * g.ow + ow) * O + o);
        accb += gv;
#pragma GCC unroll 16
        for (int k = 0; k < kSmallK; ++k)
          if (k < K) acc[k] += gv * base[off[k]];
      }
#pragma GCC unroll 16
    for (int k = 0; k < kSmallK; ++k)
      if (k < K) vstore(dw + k * O + o, vload<V>(dw + k * O + o) + acc[k]);
    if (db) vstore(db + o, accb);
  }
  for (; o < O; ++o) {  // the last O % W columns
    T acc[kSmallK] = {}, accb = 0;
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const T* base = xp + (oh * g.sh * PW + ow * g.sw) * C;
        const T gv = G[(oh * g.ow + ow) * O + o];
        accb += gv;
        for (int64_t k = 0; k < K; ++k) acc[k] += gv * base[off[k]];
      }
    for (int64_t k = 0; k < K; ++k) dw[k * O + o] += acc[k];
    if (db) db[o] = accb;
  }
}

// NHWC direct kernels for a moderate weight (KK x O fits L2; e.g. 3x3x32 -> 64): patch
// values are read straight from the zero-padded image (no patch matrix, no packing) into
// register tiles of MR pixels (or kernel rows) x NV vectors of output channels.
// base[r]: offset in xp of output pixel r's patch corner; off[k] as for the small-K path.
template <int VB>
struct Tile {
  static constexpr int MR = VB == 64 ? 6 : 4, NV = VB == 64 ? 4 : 2;
};

// Output channels [o, o + NV*W) of y[r, o] = bias[o] + sum_k xp[base[r] + off[k]] * W[k, o],
// for the R pixels of one image.
template <typename T, int VB, int NV>
TC_INLINE void direct_fwd_cols(const T* xp, const int64_t* base, const int64_t* off, const T* Wt,
                               const T* bias, T* y, int64_t R, int64_t K, int64_t O, int64_t o) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  constexpr int MR = Tile<VB>::MR;
  for (int64_t r = 0; r < R; r += MR) {
    const T* px[MR];  // rows past R repeat the last one (computed, not stored)
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) px[i] = xp + base[std::min<int64_t>(r + i, R - 1)];
    V acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = bias ? vload<V>(bias + o + v * W) : V{};
    for (int64_t k = 0; k < K; ++k) {
      const T* wk = Wt + k * O + o;
      V wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wv[v] = vload<V>(wk + v * W);
      const int64_t ok = off[k];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const V a = V{} + px[i][ok];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] += a * wv[v];
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
      if (r + i < R)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) vstore(y + (r + i) * O + o + v * W, acc[i][v]);
  }
}

template <typename T, int VB>
TC_INLINE void nhwc_direct_fwd(const T* xp, const int64_t* base, const int64_t* off, const T* Wt,
                               const T* bias, T* y, int64_t R, int64_t K, int64_t O) {
  constexpr int64_t W = VB / sizeof(T);
  constexpr int NV = Tile<VB>::NV;
  int64_t o = 0;
  for (; o + NV * W <= O; o += NV * W) direct_fwd_cols<T, VB, NV>(xp, base, off, Wt, bias, y, R, K, O, o);
  for (; o + W <= O; o += W) direct_fwd_cols<T, VB, 1>(xp, base, off, Wt, bias, y, R, K, O, o);
  for (; o < O; ++o)  // the last O % W channels
    for (int64_t r = 0; r < R; ++r) {
      T s = bias ? bias[o] : T(0);
      for (int64_t k = 0; k < K; ++k) s += xp[base[r] + off[k]] * Wt[k * O + o];
      y[r * O + o] = s;
    }
}

// Output channels [o, o + NV*W) of dw[k, o] += sum_r xp[base[r] + off[k]] * g[r, o], over the
// R pixels of one image.
template <typename T, int VB, int NV>
TC_INLINE void direct_dw_cols(const T* xp, const int64_t* base, const int64_t* off, const T* G, T* dw,
                              int64_t R, int64_t K, int64_t O, int64_t o) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  constexpr int MR = Tile<VB>::MR;
  for (int64_t k0 = 0; k0 < K; k0 += MR) {
    int64_t ok[MR];  // kernel rows past K repeat the last one (computed, not stored)
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) ok[i] = off[std::min<int64_t>(k0 + i, K - 1)];
    V acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    for (int64_t r = 0; r < R; ++r) {
      const T* gr = G + r * O + o;
      const T* px = xp + base[r];
      V gv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) gv[v] = vload<V>(gr + v * W);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const V a = V{} + px[ok[i]];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] += a * gv[v];
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
      if (k0 + i < K)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          T* d = dw + (k0 + i) * O + o + v * W;
          vstore(d, vload<V>(d) + acc[i][v]);
        }
  }
}

template <typename T, int VB>
TC_INLINE void nhwc_direct_dw(const T* xp, const int64_t* base, const int64_t* off, const T* G, T* dw,
                              int64_t R, int64_t K, int64_t O) {
  constexpr int64_t W = VB / sizeof(T);
  constexpr int NV = Tile<VB>::NV;
  int64_t o = 0;
  for (; o + NV * W <= O; o += NV * W) direct_dw_cols<T, VB, NV>(xp, base, off, G, dw, R, K, O, o);
  for (; o + W <= O; o += W) direct_dw_cols<T, VB, 1>(xp, base, off, G, dw, R, K, O, o);
  for (; o < O; ++o)
    for (int64_t k = 0; k < K; ++k) {
      T s = 0;
      for (int64_t r = 0; r < R; ++r) s += xp[base[r] + off[k]] * G[r * O + o];
      dw[k * O + o] += s;
    }
}

// Kernel values [k0, k0 + NV*W) of dxp[base[r] + off[k]] += sum_o g[r, o] * Wt[o, k] for
// the R pixels of one image; dxp is the zero-padded image's gradient. C % W == 0, so each
// vector of k is C-contiguous in dxp (one (kh, kw) piece).
template <typename T, int VB, int NV>
TC_INLINE void direct_dx_rows(const T* G, const T* Wt, T* dxp, const int64_t* base, const int64_t* off,
                              int64_t R, int64_t K, int64_t O, int64_t k0) {
  typedef TC_VEC(T, VB) V;
  constexpr int64_t W = VB / sizeof(T);
  constexpr int MR = Tile<VB>::MR;
  for (int64_t r = 0; r < R; r += MR) {
    const T* gr[MR];  // rows past R repeat the last one (computed, not stored)
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) gr[i] = G + std::min<int64_t>(r + i, R - 1) * O;
    V acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V{};
    for (int64_t o = 0; o < O; ++o) {
      V wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wv[v] = vload<V>(Wt + o * K + k0 + v * W);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const V a = V{} + gr[i][o];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] += a * wv[v];
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
      if (r + i < R)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          T* d = dxp + base[r + i] + off[k0 + v * W];
          vstore(d, vload<V>(d) + acc[i][v]);
        }
  }
}

template <typename T, int VB>
TC_INLINE void nhwc_direct_dx(const T* G, const T* Wt, T* dxp, const int64_t* base, const int64_t* off,
                              int64_t R, int64_t K, int64_t O) {
  constexpr int64_t W = VB / sizeof(T);
  constexpr int NV = Tile<VB>::NV;
  int64_t k0 = 0;
  for (; k0 + NV * W <= K; k0 += NV * W) direct_dx_rows<T, VB, NV>(G, Wt, dxp, base, off, R, K, O, k0);
  for (; k0 < K; k0 += W) direct_dx_rows<T, VB, 1>(G, Wt, dxp, base, off, R, K, O, k0);  // K % W == 0
}

// Bias and dbias of the GEMM path. NHWC: y[r, o] += b[o]; db[o] += sum_r g[r, o].
template <typename T>
TC_INLINE void add_bias_nhwc(T* y, const T* b, int64_t rows, int64_t O) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < O; ++o) y[r * O + o] += b[o];
}
template <typename T>
TC_INLINE void col_sums(const T* g, int64_t rows, int64_t O, double* db) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < O; ++o) db[o] += g[r * O + o];
}
// NCHW: y[o, l] += b[o]; db[o] += sum_l g[o, l] (in 16 independent lanes so that it
// vectorizes without -ffast-math).
template <typename T>
TC_INLINE void add_bias_nchw(T* y, const T* b, int64_t O, int64_t L) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t l = 0; l < L; ++l) y[o * L + l] += b[o];
}
template <typename T>
TC_INLINE void row_sums(const T* g, int64_t rows, int64_t n, double* out) {
  for (int64_t r = 0; r < rows; ++r, g += n) {
    T lanes[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int j = 0; j < 16; ++j) lanes[j] += g[i + j];
    double s = 0;
    for (int j = 0; j < 16; ++j) s += lanes[j];
    for (; i < n; ++i) s += g[i];
    out[r] += s;
  }
}

// TC_ISA_FN with the vector width kVB (bytes) of each ISA path in scope.
#define TC_CONV_ISA_FN(name, params, args, ...)                                     \
  TC_TARGET_AVX512 static void name##_avx512 params {                               \
    [[maybe_unused]] constexpr int kVB = 64;                                                         \
    __VA_ARGS__                                                                     \
  }                                                                                 \
  TC_TARGET_AVX2 static void name##_avx2 params {                                   \
    [[maybe_unused]] constexpr int kVB = 32;                                                         \
    __VA_ARGS__                                                                     \
  }                                                                                 \
  static void name##_generic params {                                               \
    [[maybe_unused]] constexpr int kVB = 16;                                                         \
    __VA_ARGS__                                                                     \
  }                                                                                 \
  static void name params {                                                         \
    switch (::tc::cpu_isa()) {                                                      \
      case ::tc::Isa::avx512: name##_avx512 args; break;                            \
      case ::tc::Isa::avx2: name##_avx2 args; break;                                \
      default: name##_generic args;                                                 \
    }                                                                               \
  }

// One overload set per kernel: name(T...) for T = float, double.
#define TC_CONV_KERNELS(T)                                                                          \
  TC_CONV_ISA_FN(k_rows_small_k, (const T* A, const T* col, const T* b, T* y, int64_t M, int64_t K,   \
                                  int64_t L), (A, col, b, y, M, K, L),                              \
                 { rows_small_k<T, kVB>(A, col, b, y, M, K, L); })                                  \
  TC_CONV_ISA_FN(k_dw_rows_small_k, (const T* G, const T* col, T* dw, T* db, int64_t O, int64_t K,    \
                                     int64_t L), (G, col, dw, db, O, K, L),                          \
                 { dw_rows_small_k<T, kVB>(G, col, dw, db, O, K, L); })                             \
  TC_CONV_ISA_FN(k_nhwc_small_fwd, (const T* xp, const int64_t* off, const T* W, const T* b, T* y,    \
                                    const Window2d& g, int64_t PW, int64_t C, int64_t K, int64_t O, \
                                    bool relu), (xp, off, W, b, y, g, PW, C, K, O, relu),          \
                 { nhwc_small_fwd<T, kVB>(xp, off, W, b, y, g, PW, C, K, O, relu); })                     \
  TC_CONV_ISA_FN(k_nhwc_small_dw, (const T* xp, const int64_t* off, const T* G, T* dw, T* db,         \
                                   const Window2d& g, int64_t PW, int64_t C, int64_t K, int64_t O),  \
                 (xp, off, G, dw, db, g, PW, C, K, O),                                              \
                 { nhwc_small_dw<T, kVB>(xp, off, G, dw, db, g, PW, C, K, O); })                    \
  TC_CONV_ISA_FN(k_nhwc_direct_fwd, (const T* xp, const int64_t* base, const int64_t* off, const T* W,   \
                                     const T* b, T* y, int64_t R, int64_t K, int64_t O),             \
                 (xp, base, off, W, b, y, R, K, O), { nhwc_direct_fwd<T, kVB>(xp, base, off, W, b, y, R, K, O); }) \
  TC_CONV_ISA_FN(k_nhwc_direct_dw, (const T* xp, const int64_t* base, const int64_t* off, const T* G,    \
                                    T* dw, int64_t R, int64_t K, int64_t O),                         \
                 (xp, base, off, G, dw, R, K, O), { nhwc_direct_dw<T, kVB>(xp, base, off, G, dw, R, K, O); }) \
  TC_CONV_ISA_FN(k_nhwc_direct_dx, (const T* G, const T* Wt, T* dxp, const int64_t* base, const int64_t* off, \
                                    int64_t R, int64_t K, int64_t O), (G, Wt, dxp, base, off, R, K, O), \
                 { nhwc_direct_dx<T, kVB>(G, Wt, dxp, base, off, R, K, O); })                       \
  TC_CONV_ISA_FN(k_scatter_nhwc, (const T* P, T* dx, const Window2d& g, const KwRanges& r, int64_t C), \
                 (P, dx, g, r, C), { scatter_nhwc(P, dx, g, r, C); })                                                    \
  TC_CONV_ISA_FN(k_add_bias, (bool nhwc, T* y, const T* b, int64_t R, int64_t O),                    \
                 (nhwc, y, b, R, O), { nhwc ? add_bias_nhwc(y, b, R, O) : add_bias_nchw(y, b, O, R); }) \
  TC_CONV_ISA_FN(k_bias_grad, (bool nhwc, const T* g, int64_t R, int64_t O, double* db),             \
                 (nhwc, g, R, O, db), { nhwc ? col_sums(g, R, O, db) : row_sums(g, O, R, db); })
TC_CONV_KERNELS(float)
TC_CONV_KERNELS(double)
#undef TC_CONV_KERNELS

// Zero-padded copy of one image: NHWC xp [PH, PW, C] (NCHW images go through im2col).
template <typename T>
void pad_nhwc(const T* x, T* xp, const Window2d& g, int64_t C, int64_t PW) {
  const int64_t PH = g.ih + g.pad_top + g.pad_bottom;
  std::fill(xp, xp + PH * PW * C, T(0));
  for (int64_t ih = 0; ih < g.ih; ++ih)
    std::memcpy(xp + ((ih + g.pad_top) * PW + g.pad_left) * C, x + ih * g.iw * C, sizeof(T) * g.iw * C);
}

// The patch matrix of images [n, n + cnt) in `buf`, or x itself for a direct 1x1 conv.
// NCHW: cnt is 1, the matrix col[KK, OHW]. NHWC: the images' patch rows stacked into one
// [cnt * OHW, KK] matrix (y's rows of consecutive images are contiguous too, so one GEMM
// covers the group and packs W once).
template <typename T>
const T* patches(const T* X, int64_t n, int64_t cnt, T* buf, const Window2d& g, const Dims& d,
                 const KwRanges& r, bool nhwc) {
  if (d.direct) return X + n * d.xsize;
  for (int64_t i = 0; i < cnt; ++i) {
    if (nhwc)
      gather_nhwc(X + (n + i) * d.xsize, buf + i * d.OHW * d.KK, g, r, d.C);
    else
      im2col(X + (n + i) * d.xsize, buf, g, d.C);
  }
  return buf;
}

// Images per patch matrix: NHWC groups images up to ~1 MB of patches (L2-sized); NCHW 1.
template <typename T>
int64_t group_of(const Dims& d, bool nhwc) {
  if (!nhwc) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(16, (int64_t(1) << 20) / (d.OHW * d.KK * int64_t(sizeof(T)))));
}

template <typename T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(n > 0 ? new T[n] : nullptr);
}

// The batch is cut into parts of whole groups of `grp` images. One part (batch of one
// group, or one thread): the caller runs it and each GEMM inside uses every thread.
// Several parts: up to 4 per thread, taken by whichever thread is free (on a shared
// machine a thread that is descheduled holds up a quarter of its share, not all of it);
// the GEMMs inside run serially.
int64_t parts_for(int64_t N, int64_t grp) {
  const int64_t threads = num_threads();
  return threads <= 1 ? 1 : std::min<int64_t>((N + grp - 1) / grp, 4 * threads);
}

// Runs fn(part, n_begin, n_end) for each part; n_begin is a multiple of grp.
template <typename F>
void over_batch(int64_t N, int64_t grp, int64_t parts, F fn) {
  if (parts <= 1) {
    fn(int64_t(0), int64_t(0), N);
    return;
  }
  const int64_t units = (N + grp - 1) / grp;
  parallel_for(parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p)
      fn(p, std::min(N, p * units / parts * grp), std::min(N, (p + 1) * units / parts * grp));
  });
}

// The NHWC direct kernels' view of x: a zero-padded image [PH, PW, C], the offsets of the
// KK patch values from a patch's corner and each output pixel's corner (see nhwc_small_fwd).
struct PaddedNhwc {
  int64_t PW, size;
  std::vector<int64_t> off, base;
  PaddedNhwc(const Window2d& g, const Dims& d, bool nhwc) {
    PW = g.iw + g.pad_left + g.pad_right;
    size = (g.ih + g.pad_top + g.pad_bottom) * PW * d.C;
    if (!nhwc) return;
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw)
        for (int64_t c = 0; c < d.C; ++c) off.push_back((kh * g.dh * PW + kw * g.dw) * d.C + c);
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow) base.push_back((oh * g.sh * PW + ow * g.sw) * d.C);
  }
};

// NHWC forward and dw run the direct kernels while the weight stays in L2 (the GEMM's
// cache blocking pays off beyond) and O fills vectors (fewer than 16 channels would run
// their scalar tail); 1x1 stride-1 convs use x as the GEMM operand as is.
template <typename T>
bool nhwc_direct(const Dims& d, bool nhwc) {
  return nhwc && conv2d_direct_fits(d.KK, d.O, d.C, sizeof(T), d.direct, false);
}

// NCHW convs the NHWC direct kernels can run (also C a multiple of 64 bytes, for their dx):
// each image is transposed to a zero-padded NHWC copy in cache, the NHWC kernels run on it
// and the result is transposed back. The transposes move less data than im2col's KK x OHW
// patch matrix, there is no GEMM packing per image, and every sum is taken in the NHWC
// path's order, so both layouts give the same bits (tests/kernels/test_conv2d.py).
template <typename T>
bool nchw_via_nhwc(const Dims& d) {
  return nhwc_direct<T>(d, true) && (d.C * int64_t(sizeof(T))) % 64 == 0;
}

// One NCHW image x [C, IH, IW] -> the zero-padded NHWC copy xp [PH, PW, C].
template <typename T>
TC_INLINE void pad_nchw_as_nhwc(const T* x, T* xp, const Window2d& g, int64_t C, int64_t PW) {
  const int64_t PH = g.ih + g.pad_top + g.pad_bottom;
  std::fill(xp, xp + PH * PW * C, T(0));
  for (int64_t ih = 0; ih < g.ih; ++ih)
    transpose_inline(x + ih * g.iw, g.ih * g.iw, xp + ((ih + g.pad_top) * PW + g.pad_left) * C, C, C, g.iw);
}

// The padded NHWC gradient dxp [PH, PW, C] -> one NCHW image dx [C, IH, IW] (padding dropped).
template <typename T>
TC_INLINE void unpad_nhwc_as_nchw(const T* dxp, T* dx, const Window2d& g, int64_t C, int64_t PW) {
  for (int64_t ih = 0; ih < g.ih; ++ih)
    transpose_inline(dxp + ((ih + g.pad_top) * PW + g.pad_left) * C, C, dx + ih * g.iw, g.ih * g.iw, g.iw, C);
}

#define TC_TRANSPOSE_KERNELS(T)                                                                          \
  TC_ISA_FN(k_pad_nchw_as_nhwc, (const T* x, T* xp, const Window2d& g, int64_t C, int64_t PW),          \
            (x, xp, g, C, PW), { pad_nchw_as_nhwc(x, xp, g, C, PW); })                                   \
  TC_ISA_FN(k_unpad_nhwc_as_nchw, (const T* dxp, T* dx, const Window2d& g, int64_t C, int64_t PW),      \
            (dxp, dx, g, C, PW), { unpad_nhwc_as_nchw(dxp, dx, g, C, PW); })
TC_TRANSPOSE_KERNELS(float)
TC_TRANSPOSE_KERNELS(double)
#undef TC_TRANSPOSE_KERNELS

// OIHW w [O, C, KH, KW] -> HWIO [KH, KW, C, O] (to_hwio) and back (from_hwio).
template <typename T>
std::vector<T> to_hwio(const T* w, const Window2d& g, int64_t C, int64_t O) {
  std::vector<T> out(g.kh * g.kw * C * O);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < g.kh; ++kh)
        for (int64_t kw = 0; kw < g.kw; ++kw) out[((kh * g.kw + kw) * C + c) * O + o] = w[((o * C + c) * g.kh + kh) * g.kw + kw];
  return out;
}
template <typename T>
void from_hwio(const T* hwio, T* w, const Window2d& g, int64_t C, int64_t O) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < g.kh; ++kh)
        for (int64_t kw = 0; kw < g.kw; ++kw) w[((o * C + c) * g.kh + kh) * g.kw + kw] = hwio[((kh * g.kw + kw) * C + c) * O + o];
}

// The NCHW forward on the NHWC direct kernel, image by image (see nchw_via_nhwc).
template <typename T>
void forward_nchw_via_nhwc(const T* X, const T* W, const T* B, T* Y, const Window2d& g, const Dims& d, Act act) {
  const PaddedNhwc pad(g, d, true);
  const std::vector<T> Wh = to_hwio(W, g, d.C, d.O);
  over_batch(d.N, 1, parts_for(d.N, 1), [&](int64_t, int64_t n0, int64_t n1) {
    auto xp = scratch<T>(pad.size);
    auto yh = scratch<T>(d.ysize);
    for (int64_t n = n0; n < n1; ++n) {
      k_pad_nchw_as_nhwc(X + n * d.xsize, xp.get(), g, d.C, pad.PW);
      k_nhwc_direct_fwd(xp.get(), pad.base.data(), pad.off.data(), Wh.data(), B, yh.get(), d.OHW, d.KK, d.O);
      act_inplace(act, yh.get(), d.ysize);
      transpose(yh.get(), d.O, Y + n * d.ysize, d.OHW, d.OHW, d.O);
    }
  });
}

// The NCHW backward on the NHWC direct kernels: the same groups, parts, kernels and order of
// sums as the NHWC path (backward below), so dx, dw and dbias are its bits, transposed.
template <typename T>
void backward_nchw_via_nhwc(const T* G, const T* X, const T* W, const T* Yf, T* DX, T* DW, T* DB,
                            const Window2d& g, const Dims& d, Act act) {
  const PaddedNhwc pad(g, d, true);
  const int64_t wsize = d.KK * d.O;
  const int64_t grp = group_of<T>(d, true);
  const int64_t parts = parts_for(d.N, grp);
  const std::vector<T> Wh = to_hwio(W, g, d.C, d.O);  // [KK, O]
  std::vector<T> Wt(DX ? wsize : 0);                  // its transpose [O, KK]
  for (int64_t k = 0; DX && k < d.KK; ++k)
    for (int64_t o = 0; o < d.O; ++o) Wt[o * d.KK + k] = Wh[k * d.O + o];
  std::vector<T> dw_parts(DW ? parts * wsize : 0);  // HWIO, one per part
  std::vector<double> db_parts(DB ? parts * d.O : 0, 0.0);
  over_batch(d.N, grp, parts, [&](int64_t p, int64_t n0, int64_t n1) {
    T* acc = DW ? dw_parts.data() + p * wsize : nullptr;
    double* db = DB ? db_parts.data() + p * d.O : nullptr;
    auto xp = scratch<T>(DW ? pad.size : 0);
    auto dxp = scratch<T>(DX ? pad.size : 0);
    auto ga = scratch<T>(Yf ? d.ysize : 0);  // grad through the activation, NCHW
    auto gt = scratch<T>(d.ysize);           // ... transposed to [OHW, O]
    for (int64_t n = n0; n < n1; ++n) {
      const T* gn = G + n * d.ysize;
      if (Yf) {
        act_backward(act, gn, Yf + n * d.ysize, ga.get(), d.ysize);
        gn = ga.get();
      }
      transpose(gn, d.OHW, gt.get(), d.O, d.O, d.OHW);
      if (DW) {
        k_pad_nchw_as_nhwc(X + n * d.xsize, xp.get(), g, d.C, pad.PW);
        k_nhwc_direct_dw(xp.get(), pad.base.data(), pad.off.data(), gt.get(), acc, d.OHW, d.KK, d.O);
      }
      if (DX) {
        std::fill(dxp.get(), dxp.get() + pad.size, T(0));
        k_nhwc_direct_dx(gt.get(), Wt.data(), dxp.get(), pad.base.data(), pad.off.data(), d.OHW, d.KK, d.O);
        k_unpad_nhwc_as_nchw(dxp.get(), DX + n * d.xsize, g, d.C, pad.PW);
      }
      if (db) k_bias_grad(true, gt.get(), d.OHW, d.O, db);
    }
  });
  if (DW) {  // part 0 + part 1 + ... in the NHWC path's order, then to OIHW
    T* out = dw_parts.data();
    for (int64_t p = 1; p < parts; ++p) {
      const T* src = dw_parts.data() + p * wsize;
      for (int64_t i = 0; i < wsize; ++i) out[i] += src[i];
    }
    from_hwio(out, DW, g, d.C, d.O);
  }
  if (DB)
    for (int64_t o = 0; o < d.O; ++o) {
      double s = 0;
      for (int64_t p = 0; p < parts; ++p) s += db_parts[p * d.O + o];
      DB[o] = T(s);
    }
}

template <typename T>
void forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
             const Tensor& y, Act act) {
  const Dims d = dims_of(x, w, g, nhwc);
  const T* X = x.ptr<T>();
  const T* W = w.ptr<T>();
  const T* B = bias ? bias->ptr<T>() : nullptr;
  T* Y = y.ptr<T>();
  if (!nhwc && nchw_via_nhwc<T>(d)) {
    forward_nchw_via_nhwc(X, W, B, Y, g, d, act);
    return;
  }
  const KwRanges kwr(g);
  const PaddedNhwc pad(g, d, nhwc);
  if (nhwc_direct<T>(d, nhwc)) {
    over_batch(d.N, 1, parts_for(d.N, 1), [&](int64_t, int64_t n0, int64_t n1) {
      auto xp = scratch<T>(pad.size);
      for (int64_t n = n0; n < n1; ++n) {
        pad_nhwc(X + n * d.xsize, xp.get(), g, d.C, pad.PW);
        k_nhwc_direct_fwd(xp.get(), pad.base.data(), pad.off.data(), W, B, Y + n * d.ysize, d.OHW, d.KK, d.O);
        act_inplace(act, Y + n * d.ysize, d.ysize);
      }
    });
    return;
  }
  if (d.KK < kSmallK) {  // direct loops, image by image
    over_batch(d.N, 1, parts_for(d.N, 1), [&](int64_t, int64_t n0, int64_t n1) {
      auto buf = scratch<T>(nhwc ? pad.size : d.direct ? 0 : d.OHW * d.KK);
      for (int64_t n = n0; n < n1; ++n) {
        if (nhwc) {  // relu fused into the kernel (a pass less over y); tanh after it
          pad_nhwc(X + n * d.xsize, buf.get(), g, d.C, pad.PW);
          k_nhwc_small_fwd(buf.get(), pad.off.data(), W, B, Y + n * d.ysize, g, pad.PW, d.C, d.KK, d.O,
                           act == Act::relu);
          if (act != Act::relu) act_inplace(act, Y + n * d.ysize, d.ysize);
        } else {
          k_rows_small_k(W, patches(X, n, 1, buf.get(), g, d, kwr, false), B, Y + n * d.ysize, d.O, d.KK, d.OHW);
          act_inplace(act, Y + n * d.ysize, d.ysize);
        }
      }
    });
    return;
  }
  const int64_t grp = group_of<T>(d, nhwc);
  over_batch(d.N, grp, parts_for(d.N, grp), [&](int64_t, int64_t n0, int64_t n1) {
    auto buf = scratch<T>(d.direct ? 0 : grp * d.OHW * d.KK);
    for (int64_t n = n0; n < n1; n += grp) {
      const int64_t cnt = std::min(grp, n1 - n), rows = cnt * d.OHW;
      const T* col = patches(X, n, cnt, buf.get(), g, d, kwr, nhwc);
      T* yn = Y + n * d.ysize;
      if (nhwc)  // y[rows, O] = P[rows, KK] * W[KK, O]
        gemm(false, false, rows, d.O, d.KK, T(1), col, d.KK, W, d.O, T(0), yn, d.O);
      else  // y[O, OHW] = W[O, KK] * col[KK, OHW]
        gemm(false, false, d.O, d.OHW, d.KK, T(1), W, d.KK, col, d.OHW, T(0), yn, d.OHW);
      if (B) k_add_bias(nhwc, yn, B, rows, d.O);
      act_inplace(act, yn, cnt * d.ysize);
    }
  });
}

template <typename T>
void backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc,
              const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y, Act act) {
  const Dims d = dims_of(x, w, g, nhwc);
  const T* G = grad.ptr<T>();
  const T* Yf = act != Act::none ? y->ptr<T>() : nullptr;
  const T* X = x.ptr<T>();
  const T* W = w.ptr<T>();
  T* DX = dx ? dx->ptr<T>() : nullptr;
  if (!nhwc && nchw_via_nhwc<T>(d)) {
    backward_nchw_via_nhwc(G, X, W, Yf, DX, dw ? dw->ptr<T>() : nullptr, dbias ? dbias->ptr<T>() : nullptr, g, d,
                           act);
    return;
  }
  const int64_t wsize = d.KK * d.O;
  const int64_t grp = group_of<T>(d, nhwc);
  const int64_t parts = parts_for(d.N, grp);
  // Small K: dw (with dbias, from the same reads of grad) by direct loops, image by image.
  const bool small = dw && d.KK < kSmallK;
  const bool direct_dw = dw && nhwc_direct<T>(d, nhwc);
  // NHWC dx by the direct kernel when every vector of C fits (C a multiple of 64 bytes).
  const bool direct_dx = dx && nhwc && conv2d_direct_fits(d.KK, d.O, d.C, sizeof(T), d.direct, true);
  const PaddedNhwc pad(g, d, nhwc);
  std::vector<T> Wt(direct_dx ? wsize : 0);  // W^T [O, KK]
  for (int64_t k = 0; direct_dx && k < d.KK; ++k)
    for (int64_t o = 0; o < d.O; ++o) Wt[o * d.KK + k] = W[k * d.O + o];
  const KwRanges kwr(g);
  // dw and dbias are sums over the batch: each part accumulates its own copy (part 0
  // straight into dw), then they are added up; dbias partials in double for accuracy.
  std::vector<T> dw_parts(dw ? (parts - 1) * wsize : 0);
  std::vector<double> db_parts(dbias ? parts * d.O : 0, 0.0);

  over_batch(d.N, grp, parts, [&](int64_t p, int64_t n0, int64_t n1) {
    T* acc = dw ? (p == 0 ? dw->ptr<T>() : dw_parts.data() + (p - 1) * wsize) : nullptr;
    auto buf = scratch<T>(!dw ? 0 : (small || direct_dw) && nhwc ? pad.size : d.direct ? 0 : grp * d.OHW * d.KK);
    auto dbuf = scratch<T>(direct_dx ? pad.size : dx && !d.direct ? grp * d.OHW * d.KK : 0);
    double* db = dbias ? db_parts.data() + p * d.O : nullptr;
    std::vector<T> dbi(small && db ? d.O : 0);  // one image's dbias (small-K kernels)
    auto gbuf = scratch<T>(Yf ? grp * d.ysize : 0);  // grad through the activation, one group
    if (small || direct_dw) std::fill(acc, acc + wsize, T(0));
    for (int64_t n = n0; n < n1; n += grp) {
      const int64_t cnt = std::min(grp, n1 - n), rows = cnt * d.OHW;
      const T* gn = G + n * d.ysize;
      if (Yf) {
        act_backward(act, gn, Yf + n * d.ysize, gbuf.get(), cnt * d.ysize);
        gn = gbuf.get();
      }
      const T beta = n == n0 ? T(0) : T(1);
      if (small) {
        for (int64_t i = 0; i < cnt; ++i) {
          const T* gi = gn + i * d.ysize;
          if (nhwc) {
            pad_nhwc(X + (n + i) * d.xsize, buf.get(), g, d.C, pad.PW);
            k_nhwc_small_dw(buf.get(), pad.off.data(), gi, acc, db ? dbi.data() : nullptr, g, pad.PW, d.C, d.KK, d.O);
          } else {
            k_dw_rows_small_k(gi, patches(X, n + i, 1, buf.get(), g, d, kwr, false), acc, db ? dbi.data() : nullptr,
                              d.O, d.KK, d.OHW);
          }
          for (int64_t o = 0; db && o < d.O; ++o) db[o] += dbi[o];
        }
      } else if (direct_dw) {
        for (int64_t i = 0; i < cnt; ++i) {
          pad_nhwc(X + (n + i) * d.xsize, buf.get(), g, d.C, pad.PW);
          k_nhwc_direct_dw(buf.get(), pad.base.data(), pad.off.data(), gn + i * d.ysize, acc, d.OHW, d.KK, d.O);
        }
      } else if (acc) {
        const T* col = patches(X, n, cnt, buf.get(), g, d, kwr, nhwc);
        if (nhwc)  // dW[KK, O] += P^T[KK, rows] * G[rows, O]
          gemm(true, false, d.KK, d.O, rows, T(1), col, d.KK, gn, d.O, beta, acc, d.O);
        else  // dW[O, KK] += G[O, OHW] * col^T[OHW, KK]
          gemm(false, true, d.O, d.KK, d.OHW, T(1), gn, d.OHW, col, d.OHW, beta, acc, d.KK);
      }
      if (direct_dx) {
        const int64_t pl = g.pad_left, pt = g.pad_top;
        for (int64_t i = 0; i < cnt; ++i) {
          T* dxp = dbuf.get();
          std::fill(dxp, dxp + pad.size, T(0));
          k_nhwc_direct_dx(gn + i * d.ysize, Wt.data(), dxp, pad.base.data(), pad.off.data(), d.OHW, d.KK, d.O);
          T* dxi = DX + (n + i) * d.xsize;  // the image without its padding
          for (int64_t ih = 0; ih < g.ih; ++ih)
            std::memcpy(dxi + ih * g.iw * d.C, dxp + ((ih + pt) * pad.PW + pl) * d.C, sizeof(T) * g.iw * d.C);
        }
      } else if (DX) {
        T* dxn = DX + n * d.xsize;
        T* dcol = d.direct ? dxn : dbuf.get();
        if (nhwc)  // dP[rows, KK] = G[rows, O] * W^T[O, KK]
          gemm(false, true, rows, d.KK, d.O, T(1), gn, d.O, W, d.O, T(0), dcol, d.KK);
        else  // dcol[KK, OHW] = W^T[KK, O] * G[O, OHW]
          gemm(true, false, d.KK, d.OHW, d.O, T(1), W, d.KK, gn, d.OHW, T(0), dcol, d.OHW);
        if (!d.direct)
          for (int64_t i = 0; i < cnt; ++i) {
            if (nhwc)
              k_scatter_nhwc(dcol + i * d.OHW * d.KK, dxn + i * d.xsize, g, kwr, d.C);
            else
              col2im(dcol, dxn, g, d.C);
          }
      }
      if (db && !small) k_bias_grad(nhwc, gn, rows, d.O, db);
    }
  });

  if (dw) {
    T* out = dw->ptr<T>();
    for (int64_t p = 1; p < parts; ++p) {
      const T* src = dw_parts.data() + (p - 1) * wsize;
      for (int64_t i = 0; i < wsize; ++i) out[i] += src[i];
    }
  }
  if (dbias) {
    T* out = dbias->ptr<T>();
    for (int64_t o = 0; o < d.O; ++o) {
      double s = 0;
      for (int64_t p = 0; p < parts; ++p) s += db_parts[p * d.O + o];
      out[o] = T(s);
    }
  }
}

}  // namespace

bool conv2d_direct_fits(int64_t KK, int64_t O, int64_t C, int64_t bytes, bool direct_1x1, bool dx) {
  return !direct_1x1 && KK >= kSmallK && O >= 16 && KK * O * bytes <= (int64_t(256) << 10) &&
         (!dx || (C * bytes) % 64 == 0);
}

#define TC_CONV_DIRECT_DEF(T)                                                                         \
  void conv2d_direct_fwd(const T* xp, const int64_t* base, const int64_t* off, const T* W, const T* bias, \
                         T* y, int64_t R, int64_t K, int64_t O) {                                     \
    k_nhwc_direct_fwd(xp, base, off, W, bias, y, R, K, O);                                            \
  }                                                                                                   \
  void conv2d_direct_dw(const T* xp, const int64_t* base, const int64_t* off, const T* G, T* dw,       \
                        int64_t R, int64_t K, int64_t O) {                                            \
    k_nhwc_direct_dw(xp, base, off, G, dw, R, K, O);                                                  \
  }                                                                                                   \
  void conv2d_direct_dx(const T* G, const T* Wt, T* dxp, const int64_t* base, const int64_t* off,      \
                        int64_t R, int64_t K, int64_t O) {                                            \
    k_nhwc_direct_dx(G, Wt, dxp, base, off, R, K, O);                                                 \
  }
TC_CONV_DIRECT_DEF(float)
TC_CONV_DIRECT_DEF(double)
#undef TC_CONV_DIRECT_DEF

Window2d conv2d_check(const Tensor& x, const Tensor& w, const Tensor* bias,
                      std::pair<int64_t, int64_t> stride, PadSpec padding,
                      std::pair<int64_t, int64_t> dilation, bool nhwc, Shape* out_shape,
                      const char* op) {
  check_input(op, "x", x);
  check_rank(op, "x", x, 4, 4);
  check_input_like(op, "w", w, x);
  check_rank(op, "w", w, 4, 4);
  const int64_t N = x.size(0);
  const int64_t C = nhwc ? x.size(3) : x.size(1);
  const int64_t ih = nhwc ? x.size(1) : x.size(2), iw = nhwc ? x.size(2) : x.size(3);
  const int64_t wc = nhwc ? w.size(2) : w.size(1), O = nhwc ? w.size(3) : w.size(0);
  const int64_t kh = nhwc ? w.size(0) : w.size(2), kw = nhwc ? w.size(1) : w.size(3);
  if (wc != C)
    value_error(op, "w", "has ", wc, " input channels but x has ", C, " (", nhwc ? "NHWC x with HWIO w" : "NCHW x with OIHW w", ", w shape ", w.shape.str(), ")");
  if (bias) {
    check_input_like(op, "bias", *bias, x);
    check_shape(op, "bias", *bias, Shape{O});
  }
  Window2d g = make_window(op, "w", ih, iw, kh, kw, stride.first, stride.second, dilation.first,
                           dilation.second, padding);
  if (out_shape) *out_shape = nhwc ? Shape{N, g.oh, g.ow, O} : Shape{N, O, g.oh, g.ow};
  return g;
}

void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
            const Tensor& y, Act act) {
  if (half::is_half(x.dtype)) return conv2d_half(x, w, bias, g, nhwc, y, act);  // cpu/conv2d_half.h
  TC_FLOAT_TYPES("conv2d", x.dtype, T, forward<T>(x, w, bias, g, nhwc, y, act));
}

void conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                     bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias,
                     const Tensor* y, Act act) {
  if (half::is_half(x.dtype)) return conv2d_backward_half(grad, x, w, g, nhwc, dx, dw, dbias, y, act);
  TC_FLOAT_TYPES("conv2d_backward", x.dtype, T,
                 backward<T>(grad, x, w, g, nhwc, dx, dw, dbias, y, act));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

struct Options {
  std::pair<int64_t, int64_t> stride, dilation;
  PadSpec padding;
  bool nhwc;
};

Options options_from(pyb::handle stride, pyb::handle padding, pyb::handle dilation,
                     pyb::handle layout, const char* op) {
  Options o;
  o.nhwc = py::nhwc_from(layout, op);
  o.stride = py::pair_from(stride, op, "stride");
  o.padding = py::padding_from(padding, op, "padding");
  o.dilation = py::pair_from(dilation, op, "dilation");
  return o;
}


pyb::object conv2d_py(pyb::handle x_obj, pyb::handle w_obj, pyb::handle b_obj, pyb::handle stride,
                      pyb::handle padding, pyb::handle dilation, pyb::handle layout,
                      pyb::handle activation, pyb::handle allocator) {
  const char* op = "conv2d";
  auto x = py::arg(x_obj, op, "x");
  py::device_ready(allocator, x.t, op, "x");
  auto w = py::arg(w_obj, op, "w");
  auto b = py::optional_arg(b_obj, op, "bias");
  Options o = options_from(stride, padding, dilation, layout, op);
  const cpu::Act act = py::act_from(activation, op);
  Shape ys;
  Window2d g = cpu::conv2d_check(x.t, w.t, b ? &b->t : nullptr, o.stride, o.padding, o.dilation,
                                 o.nhwc, &ys, op);
  auto y = py::alloc(allocator, ys, x.t.dtype, op);
  // no tensors for the half adapter: cpu::conv2d takes halves itself (cpu/conv2d_half.h)
  py::run(allocator, x.t, op, "x", {}, {},
          [&] { cpu::conv2d(x.t, w.t, b ? &b->t : nullptr, g, o.nhwc, y.t, act); },
          [&](gpu::Gpu& gp) { gpu::conv2d(gp, x.t, w.t, b ? &b->t : nullptr, g, o.nhwc, y.t, act); });
  return y.obj;
}

pyb::object conv2d_backward_py(pyb::handle g_obj, pyb::handle x_obj, pyb::handle w_obj,
                               pyb::handle stride, pyb::handle padding, pyb::handle dilation,
                               pyb::handle layout, bool need_x, bool need_w, bool need_bias,
                               pyb::handle y_obj, pyb::handle activation, pyb::handle allocator) {
  const char* op = "conv2d_backward";
  auto gr = py::arg(g_obj, op, "grad");
  py::device_ready(allocator, gr.t, op, "grad");
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  Options o = options_from(stride, padding, dilation, layout, op);
  Shape ys;
  Window2d g = cpu::conv2d_check(x.t, w.t, nullptr, o.stride, o.padding, o.dilation, o.nhwc, &ys, op);
  check_input_like(op, "grad", gr.t, x.t);
  check_shape(op, "grad", gr.t, ys);
  const cpu::Act act = py::act_from(activation, op);
  auto y = py::optional_arg(y_obj, op, "y");
  if (act != cpu::Act::none && !y)
    value_error(op, "y", "the forward's output is needed to take grad through the activation");
  if (y) {
    check_input_like(op, "y", y->t, x.t);
    check_shape(op, "y", y->t, ys);
  }
  const int64_t O = o.nhwc ? w.t.size(3) : w.t.size(0);
  std::optional<py::Out> dx, dw, db;
  if (need_x) dx = py::alloc(allocator, x.t.shape, x.t.dtype, op);
  if (need_w) dw = py::alloc(allocator, w.t.shape, x.t.dtype, op);
  if (need_bias) db = py::alloc(allocator, Shape{O}, x.t.dtype, op);
  auto ptr = [](std::optional<py::Out>& t) { return t ? &t->t : nullptr; };
  const Tensor* yt = y ? &y->t : nullptr;
  py::run(allocator, gr.t, op, "grad", {}, {},  // halves: cpu::conv2d_backward (cpu/conv2d_half.h)
          [&] { cpu::conv2d_backward(gr.t, x.t, w.t, g, o.nhwc, ptr(dx), ptr(dw), ptr(db), yt, act); },
          [&](gpu::Gpu& gp) {
            gpu::conv2d_backward(gp, gr.t, x.t, w.t, g, o.nhwc, ptr(dx), ptr(dw), ptr(db), yt, act);
          });
  auto obj = [](std::optional<py::Out>& t) { return t ? t->obj : pyb::none().cast<pyb::object>(); };
  return pyb::make_tuple(obj(dx), obj(dw), obj(db));
}

}  // namespace

TC_BIND(conv2d) {
  m.def("conv2d", &conv2d_py);
  m.def("conv2d_backward", &conv2d_backward_py);
}
