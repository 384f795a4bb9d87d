#include "cpu/conv2d_half.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/half.h"
#include "core/parallel.h"
#include "cpu/conv2d.h"
#include "cpu/gemm_half.h"
#include "cpu/patches.h"

namespace tc::cpu {
namespace {

// Dims, inside, KwRanges and the float32 transposes col2im / scatter_nhwc (cpu/patches.h); the bf16
// gathers below are this file's own (masked 64-byte moves on bf16 bits).
using namespace patches;

const uint16_t* bits(const Tensor& t) { return static_cast<const uint16_t*>(t.data); }
uint16_t* bits_out(const Tensor& t) { return static_cast<uint16_t*>(t.data); }

// Everything below runs only on the native path (AVX512-BF16 CPUs, avx512 path): the helpers are
// compiled for AVX-512 whatever the global flags.
#define TC_NATIVE TC_TARGET_AVX512

// Copies / zeroes n bf16 values with masked 64-byte moves: rows here are short (an image row
// of 14 values), where a memcpy/memset call costs more than the data.
TC_NATIVE inline void copy16(uint16_t* d, const uint16_t* s, int64_t n) {
  for (; n >= 32; n -= 32, d += 32, s += 32) _mm512_storeu_si512(d, _mm512_loadu_si512(s));
  if (n > 0) {
    const __mmask32 m = __mmask32((1u << n) - 1);
    _mm512_mask_storeu_epi16(d, m, _mm512_maskz_loadu_epi16(m, s));
  }
}
TC_NATIVE inline void zero16(uint16_t* d, int64_t n) {
  const __m512i z = _mm512_setzero_si512();
  for (; n >= 32; n -= 32, d += 32) _mm512_storeu_si512(d, z);
  if (n > 0) _mm512_mask_storeu_epi16(d, __mmask32((1u << n) - 1), z);
}

// NCHW, one image: col[(c, kh, kw), (oh, ow)] = x[c, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl] as
// bf16 bits (0 = +0.0 outside the image).
TC_NATIVE void im2col(const uint16_t* x, uint16_t* col, const Window2d& g, int64_t C) {
  const int64_t OW = g.ow, OHW = g.oh * g.ow;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        uint16_t* row = col + ((c * g.kh + kh) * g.kw + kw) * OHW;
        const int64_t offh = kh * g.dh - g.pad_top, offw = kw * g.dw - g.pad_left;
        int64_t oh0, oh1, ow0, ow1;
        inside(offh, g.sh, g.ih, g.oh, oh0, oh1);
        inside(offw, g.sw, g.iw, g.ow, ow0, ow1);
        zero16(row, oh0 * OW);
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          uint16_t* r = row + oh * OW;
          const uint16_t* xr = x + (c * g.ih + oh * g.sh + offh) * g.iw + offw;
          zero16(r, ow0);
          if (g.sw == 1)
            copy16(r + ow0, xr + ow0, ow1 - ow0);
          else
            for (int64_t ow = ow0; ow < ow1; ++ow) r[ow] = xr[ow * g.sw];
          zero16(r + ow1, OW - ow1);
        }
        zero16(row + oh1 * OW, OHW - oh1 * OW);
      }
}

// NHWC, one image: P[(oh, ow), (kh, kw, c)] = x[oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, c] as bf16
// bits (0 outside); with dilation 1 a (pixel, kh) is one copy of kw*C values.
TC_NATIVE void gather_nhwc(const uint16_t* x, uint16_t* P, const Window2d& g, const KwRanges& r, int64_t C) {
  const int64_t run = g.kw * C;
  uint16_t* p = P;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t k0 = r.lo[ow], k1 = r.hi[ow];
      for (int64_t kh = 0; kh < g.kh; ++kh, p += run) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.pad_top;
        if (ih < 0 || ih >= g.ih || k0 >= k1) {
          zero16(p, run);
          continue;
        }
        const uint16_t* xr = x + (ih * g.iw + r.iw0[ow]) * C;
        zero16(p, k0 * C);
        if (g.dw == 1)
          copy16(p + k0 * C, xr, (k1 - k0) * C);
        else
          for (int64_t kw = k0; kw < k1; ++kw) copy16(p + kw * C, xr + (kw - k0) * g.dw * C, C);
        zero16(p + k1 * C, run - k1 * C);
      }
    }
}

// The batch in parts (up to 4 per thread, taken by whichever thread is free); fn(part, n0, n1).
// Inside a part every GEMM runs serially on its thread.
int64_t parts_for(int64_t N) {
  const int64_t threads = num_threads();
  return threads <= 1 ? 1 : std::min<int64_t>(N, 4 * threads);
}

template <typename F>
void over_batch(int64_t N, int64_t parts, F fn) {
  if (parts <= 1) {
    fn(int64_t(0), int64_t(0), N);
    return;
  }
  parallel_for(parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) fn(p, p * N / parts, (p + 1) * N / parts);
  });
}

// y (float32, one image) += bias: NHWC [OHW, O], NCHW [O, OHW].
TC_NATIVE void add_bias(float* c, const float* b, bool nhwc, int64_t O, int64_t OHW) {
  if (nhwc) {
    for (int64_t r = 0; r < OHW; ++r)
      for (int64_t o = 0; o < O; ++o) c[r * O + o] += b[o];
  } else {
    for (int64_t o = 0; o < O; ++o)
      for (int64_t l = 0; l < OHW; ++l) c[o * OHW + l] += b[o];
  }
}

// db[o] += sum of one image's float32 grad over its pixels; sums in 16 independent lanes (NCHW)
// so that they vectorise without reassociation flags.
TC_NATIVE void bias_grad(const float* g, bool nhwc, int64_t O, int64_t OHW, double* db) {
  if (nhwc) {
    std::vector<float> s(size_t(O), 0.0f);
    for (int64_t r = 0; r < OHW; ++r)
      for (int64_t o = 0; o < O; ++o) s[size_t(o)] += g[r * O + o];
    for (int64_t o = 0; o < O; ++o) db[o] += s[size_t(o)];
    return;
  }
  for (int64_t o = 0; o < O; ++o) {
    const float* r = g + o * OHW;
    float lanes[16] = {};
    int64_t l = 0;
    for (; l + 16 <= OHW; l += 16)
      for (int j = 0; j < 16; ++j) lanes[j] += r[l + j];
    double s = 0;
    for (int j = 0; j < 16; ++j) s += lanes[j];
    for (; l < OHW; ++l) s += r[l];
    db[o] += s;
  }
}

void to_f32(const uint16_t* s, float* d, int64_t n) { half::to_f32(s, DType::bf16, d, n); }
void to_bf16(const float* s, uint16_t* d, int64_t n) { half::from_f32(s, d, DType::bf16, n); }

void forward_native(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
                    const Tensor& y, Act act) {
  const Dims d = dims_of(x, w, g, nhwc);
  const uint16_t *X = bits(x), *W = bits(w);
  uint16_t* Y = bits_out(y);
  std::vector<float> b32(bias ? d.O : 0);
  if (bias) to_f32(bits(*bias), b32.data(), d.O);
  // The weight, packed once: NCHW y[O, OHW] = W[O, KK] col[KK, OHW] (W is A);
  // NHWC y[OHW, O] = P[OHW, KK] W[KK, O] (W is B).
  std::vector<uint16_t> pw(size_t(nhwc ? bf16_packed_b_size(d.O, d.KK) : bf16_packed_a_size(d.O, d.KK)));
  if (nhwc)
    bf16_pack_b(false, d.O, d.KK, W, d.O, pw.data());
  else
    bf16_pack_a(false, d.O, d.KK, W, d.KK, pw.data());
  const KwRanges kwr(g);
  over_batch(d.N, parts_for(d.N), [&](int64_t, int64_t n0, int64_t n1) {
    std::vector<uint16_t> col(size_t(d.KK * d.OHW));
    std::vector<uint16_t> pk(size_t(nhwc ? bf16_packed_a_size(d.OHW, d.KK) : bf16_packed_b_size(d.OHW, d.KK)));
    std::vector<float> c(size_t(d.ysize));
    for (int64_t n = n0; n < n1; ++n) {
      const uint16_t* xn = X + n * d.xsize;
      if (nhwc) {
        gather_nhwc(xn, col.data(), g, kwr, d.C);
        bf16_pack_a(false, d.OHW, d.KK, col.data(), d.KK, pk.data());
        gemm_bf16_packed(d.OHW, d.O, d.KK, pk.data(), pw.data(), c.data(), d.O, false);
      } else {
        im2col(xn, col.data(), g, d.C);
        bf16_pack_b(false, d.OHW, d.KK, col.data(), d.OHW, pk.data());
        gemm_bf16_packed(d.O, d.OHW, d.KK, pw.data(), pk.data(), c.data(), d.OHW, false);
      }
      if (bias) add_bias(c.data(), b32.data(), nhwc, d.O, d.OHW);
      act_inplace(act, c.data(), d.ysize);
      to_bf16(c.data(), Y + n * d.ysize, d.ysize);  // the one rounding of y
    }
  });
}

void backward_native(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc,
                     const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y, Act act) {
  const Dims d = dims_of(x, w, g, nhwc);
  const uint16_t *G = bits(grad), *X = bits(x), *W = bits(w);
  const uint16_t* Yb = act != Act::none ? bits(*y) : nullptr;
  const int64_t wsize = d.KK * d.O, OHW = d.OHW, KK = d.KK, O = d.O;
  // dx's weight, packed once: NCHW dcol[KK, OHW] = W^T[KK, O] G[O, OHW] (W^T is A, W stored
  // [O, KK]); NHWC dP[OHW, KK] = G[OHW, O] W^T[O, KK] (W^T is B, W stored [KK, O]).
  std::vector<uint16_t> pw;
  if (dx) {
    pw.resize(size_t(nhwc ? bf16_packed_b_size(KK, O) : bf16_packed_a_size(KK, O)));
    if (nhwc)
      bf16_pack_b(true, KK, O, W, O, pw.data());
    else
      bf16_pack_a(true, KK, O, W, KK, pw.data());
  }
  // Scratch per part: packed A and B operands, sized for the GEMMs this call runs.
  int64_t asz = 0, bsz = 0;
  if (dw && nhwc) asz = bf16_packed_a_size(KK, OHW), bsz = bf16_packed_b_size(O, OHW);
  if (dw && !nhwc) asz = bf16_packed_a_size(O, OHW), bsz = bf16_packed_b_size(KK, OHW);
  if (dx && nhwc) asz = std::max(asz, bf16_packed_a_size(OHW, O));
  if (dx && !nhwc) bsz = std::max(bsz, bf16_packed_b_size(OHW, O));
  const int64_t parts = parts_for(d.N);
  // dw and dbias sum over the batch: each part accumulates its own float32 (dbias double) copy
  std::vector<float> dw_parts(dw ? size_t(parts * wsize) : 0);
  std::vector<double> db_parts(dbias ? size_t(parts * O) : 0, 0.0);
  const KwRanges kwr(g);
  const bool through_act = act != Act::none;

  over_batch(d.N, parts, [&](int64_t p, int64_t n0, int64_t n1) {
    float* acc = dw ? dw_parts.data() + p * wsize : nullptr;
    double* db = dbias ? db_parts.data() + p * O : nullptr;
    std::vector<uint16_t> pa(static_cast<size_t>(asz)), pb(static_cast<size_t>(bsz)), col(dw ? size_t(KK * OHW) : 0),
        gb(through_act ? size_t(d.ysize) : 0);
    std::vector<float> g32(through_act || dbias ? size_t(d.ysize) : 0), y32(through_act ? size_t(d.ysize) : 0),
        dcol(dx ? size_t(KK * OHW) : 0), dx32(dx ? size_t(d.xsize) : 0);
    for (int64_t n = n0; n < n1; ++n) {
      const uint16_t* gn = G + n * d.ysize;
      if (through_act) {  // dL/d(conv) = grad * act'(y) in float32, rounded to bf16 for the GEMMs
        to_f32(gn, g32.data(), d.ysize);
        to_f32(Yb + n * d.ysize, y32.data(), d.ysize);
        act_backward(act, g32.data(), y32.data(), g32.data(), d.ysize);
        to_bf16(g32.data(), gb.data(), d.ysize);
        gn = gb.data();
      } else if (db) {
        to_f32(gn, g32.data(), d.ysize);
      }
      if (db) bias_grad(g32.data(), nhwc, O, OHW, db);  // from the float32 grad (before its rounding)
      const uint16_t* xn = X + n * d.xsize;
      if (dw) {
        if (nhwc) {  // dW[KK, O] += P^T[KK, OHW] G[OHW, O]
          gather_nhwc(xn, col.data(), g, kwr, d.C);
          bf16_pack_a(true, KK, OHW, col.data(), KK, pa.data());
          bf16_pack_b(false, O, OHW, gn, O, pb.data());
          gemm_bf16_packed(KK, O, OHW, pa.data(), pb.data(), acc, O, n > n0);
        } else {  // dW[O, KK] += G[O, OHW] col^T[OHW, KK]
          im2col(xn, col.data(), g, d.C);
          bf16_pack_a(false, O, OHW, gn, OHW, pa.data());
          bf16_pack_b(true, KK, OHW, col.data(), OHW, pb.data());
          gemm_bf16_packed(O, KK, OHW, pa.data(), pb.data(), acc, KK, n > n0);
        }
      }
      if (dx) {
        if (nhwc) {
          bf16_pack_a(false, OHW, O, gn, O, pa.data());
          gemm_bf16_packed(OHW, KK, O, pa.data(), pw.data(), dcol.data(), KK, false);
          scatter_nhwc(dcol.data(), dx32.data(), g, kwr, d.C);
        } else {
          bf16_pack_b(false, OHW, O, gn, OHW, pb.data());
          gemm_bf16_packed(KK, OHW, O, pw.data(), pb.data(), dcol.data(), OHW, false);
          col2im(dcol.data(), dx32.data(), g, d.C);
        }
        to_bf16(dx32.data(), bits_out(*dx) + n * d.xsize, d.xsize);  // the one rounding of dx
      }
    }
  });

  if (dw) {  // parts with no image left their (zero) copy untouched
    float* sum = dw_parts.data();
    for (int64_t q = 1; q < parts; ++q) {
      const float* src = dw_parts.data() + q * wsize;
      for (int64_t i = 0; i < wsize; ++i) sum[i] += src[i];
    }
    to_bf16(sum, bits_out(*dw), wsize);
  }
  if (dbias) {
    std::vector<float> out(static_cast<size_t>(O));
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t q = 0; q < parts; ++q) s += db_parts[size_t(q * O + o)];
      out[size_t(o)] = float(s);
    }
    to_bf16(out.data(), bits_out(*dbias), O);
  }
}

}  // namespace

bool conv2d_half_native(const Tensor& x, const Window2d& g, bool nhwc) {
  if (x.dtype != DType::bf16 || !half_gemm_native()) return false;
  // An NHWC patch of fewer than 16 values (the CNN's 3x3 conv of a 1-channel image) wastes
  // most of each 32-pair vdpbf16ps; conv2d's float32 small-K kernels on converted copies ran
  // it in 2.8 ms against 4.7 ms (fwd+bwd, batch 100, benchmarks/cpu/conv2d_half.py). NCHW's
  // native path stays ahead there (3.3 vs 4.1 ms).
  return !(nhwc && g.kh * g.kw * x.size(3) < 16);
}

void conv2d_half(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
                 const Tensor& y, Act act) {
  if (conv2d_half_native(x, g, nhwc)) return forward_native(x, w, bias, g, nhwc, y, act);
  Tensor x2 = x, w2 = w, y2 = y, b2 = bias ? *bias : Tensor{};  // float32 kernels on converted copies
  half::Scope s({&x2, &w2, bias ? &b2 : nullptr}, {&y2});
  conv2d(x2, w2, bias ? &b2 : nullptr, g, nhwc, y2, act);
  s.finish();
}

void conv2d_backward_half(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc,
                          const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y, Act act) {
  if (conv2d_half_native(x, g, nhwc)) return backward_native(grad, x, w, g, nhwc, dx, dw, dbias, y, act);
  Tensor g2 = grad, x2 = x, w2 = w, y2 = y ? *y : Tensor{}, dx2 = dx ? *dx : Tensor{}, dw2 = dw ? *dw : Tensor{},
         db2 = dbias ? *dbias : Tensor{};
  half::Scope s({&g2, &x2, &w2, y ? &y2 : nullptr}, {dx ? &dx2 : nullptr, dw ? &dw2 : nullptr, dbias ? &db2 : nullptr});
  conv2d_backward(g2, x2, w2, g, nhwc, dx ? &dx2 : nullptr, dw ? &dw2 : nullptr, dbias ? &db2 : nullptr,
                  y ? &y2 : nullptr, act);
  s.finish();
}

}  // namespace tc::cpu
