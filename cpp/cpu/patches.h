// The patch matrices of a 2-D convolution (im2col for NCHW, patch rows for NHWC) and their
// transposes, shared by conv2d's float kernels (cpu/conv2d.cc), its bf16 path
// (cpu/conv2d_half.cc) and conv_transpose2d (cpu/conv_transpose2d.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dispatch.h"
#include "core/geometry.h"
#include "core/tensor.h"

namespace tc::cpu::patches {

// Sizes every loop below needs, read once from x, w and the window.
struct Dims {
  int64_t N, C, O, OHW, KK;  // KK = KH*KW*C: the GEMM's inner dimension
  int64_t xsize, ysize;      // elements of one image of x / of y
  bool direct;               // 1x1 kernel, stride 1, no padding: the patch matrix is x itself
};

inline Dims dims_of(const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc) {
  Dims d;
  d.N = x.size(0);
  d.C = nhwc ? x.size(3) : x.size(1);
  d.O = nhwc ? w.size(3) : w.size(0);
  d.OHW = g.oh * g.ow;
  d.KK = g.kh * g.kw * d.C;
  d.xsize = g.ih * g.iw * d.C;
  d.ysize = d.OHW * d.O;
  d.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 &&
             g.pad_bottom == 0 && g.pad_left == 0 && g.pad_right == 0;
  return d;
}

// The outputs o in [lo, hi) whose input index o * s + off lies inside [0, in).
inline void inside(int64_t off, int64_t s, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t top = in - 1 - off;  // largest o * s allowed
  hi = top < 0 ? 0 : std::min(out, top / s + 1);
  lo = std::min(lo, hi);
}

// NCHW, one image: col[(c, kh, kw), (oh, ow)] = x[c, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl]
// (0 outside the image). Rows are contiguous over the output positions, ld apart (default
// oh*ow; larger when several images' columns sit side by side).
template <typename T>
void im2col(const T* x, T* col, const Window2d& g, int64_t C, int64_t ld = 0) {
  const int64_t OW = g.ow, OHW = g.oh * g.ow;
  if (ld == 0) ld = OHW;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        T* row = col + ((c * g.kh + kh) * g.kw + kw) * ld;
        const int64_t offh = kh * g.dh - g.pad_top, offw = kw * g.dw - g.pad_left;
        int64_t oh0, oh1, ow0, ow1;
        inside(offh, g.sh, g.ih, g.oh, oh0, oh1);
        inside(offw, g.sw, g.iw, g.ow, ow0, ow1);
        std::fill(row, row + oh0 * OW, T(0));
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          T* r = row + oh * OW;
          const T* xr = x + (c * g.ih + oh * g.sh + offh) * g.iw + offw;
          std::fill(r, r + ow0, T(0));
          if (g.sw == 1)
            std::memcpy(r + ow0, xr + ow0, sizeof(T) * (ow1 - ow0));
          else
            for (int64_t ow = ow0; ow < ow1; ++ow) r[ow] = xr[ow * g.sw];
          std::fill(r + ow1, r + OW, T(0));
        }
        std::fill(row + oh1 * OW, row + OHW, T(0));
      }
}

// The transpose of im2col: dx[c, ih, iw] = bias[c] (or 0) + the dcol[(c, kh, kw), (oh, ow)]
// landing there, added in a fixed order (c, kh, kw, oh, ow); rows ld apart as in im2col.
template <typename T>
void col2im(const T* col, T* dx, const Window2d& g, int64_t C, int64_t ld = 0, const T* bias = nullptr) {
  const int64_t OW = g.ow, HW = g.ih * g.iw;
  if (ld == 0) ld = g.oh * g.ow;
  for (int64_t c = 0; c < C; ++c) std::fill(dx + c * HW, dx + (c + 1) * HW, bias ? bias[c] : T(0));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const T* row = col + ((c * g.kh + kh) * g.kw + kw) * ld;
        const int64_t offh = kh * g.dh - g.pad_top, offw = kw * g.dw - g.pad_left;
        int64_t oh0, oh1, ow0, ow1;
        inside(offh, g.sh, g.ih, g.oh, oh0, oh1);
        inside(offw, g.sw, g.iw, g.ow, ow0, ow1);
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const T* r = row + oh * OW;
          T* xr = dx + (c * g.ih + oh * g.sh + offh) * g.iw + offw;
          for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * g.sw] += r[ow];
        }
      }
}

// For each output column ow: the kernel columns kw in [lo, hi) that land inside the image
// (the same for every kh and every output row), and the input column of kw = lo.
struct KwRanges {
  std::vector<int64_t> lo, hi, iw0;
  explicit KwRanges(const Window2d& g) : lo(g.ow), hi(g.ow), iw0(g.ow) {
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      inside(ow * g.sw - g.pad_left, g.dw, g.iw, g.kw, lo[ow], hi[ow]);
      iw0[ow] = ow * g.sw + lo[ow] * g.dw - g.pad_left;
    }
  }
};

// NHWC, one image: P[(oh, ow), (kh, kw, c)] = x[oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, c]
// (0 outside). With dilation 1 the kw pieces of one kh are kw*C contiguous values of x,
// so each (pixel, kh) is one copy (a copy per C values cost more than the data).
template <typename T>
void gather_nhwc(const T* x, T* P, const Window2d& g, const KwRanges& r, int64_t C) {
  const int64_t run = g.kw * C;
  T* p = P;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t k0 = r.lo[ow], k1 = r.hi[ow];
      for (int64_t kh = 0; kh < g.kh; ++kh, p += run) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.pad_top;
        if (ih < 0 || ih >= g.ih || k0 >= k1) {
          std::fill(p, p + run, T(0));
          continue;
        }
        const T* xr = x + (ih * g.iw + r.iw0[ow]) * C;
        std::fill(p, p + k0 * C, T(0));
        if (g.dw == 1)
          std::memcpy(p + k0 * C, xr, sizeof(T) * (k1 - k0) * C);
        else
          for (int64_t kw = k0; kw < k1; ++kw) std::memcpy(p + kw * C, xr + (kw - k0) * g.dw * C, sizeof(T) * C);
        std::fill(p + k1 * C, p + run, T(0));
      }
    }
}

// The transpose of gather_nhwc: dx[ih, iw, c] += dP[(oh, ow), (kh, kw, c)]; dx zeroed first.
template <typename T>
TC_INLINE void scatter_nhwc(const T* P, T* dx, const Window2d& g, const KwRanges& r, int64_t C) {
  const int64_t run = g.kw * C;
  std::fill(dx, dx + g.ih * g.iw * C, T(0));
  const T* p = P;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t k0 = r.lo[ow], k1 = r.hi[ow];
      for (int64_t kh = 0; kh < g.kh; ++kh, p += run) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.pad_top;
        if (ih < 0 || ih >= g.ih) continue;
        T* d = dx + (ih * g.iw + r.iw0[ow]) * C;
        const T* s = p + k0 * C;
        if (g.dw == 1) {
          for (int64_t i = 0; i < (k1 - k0) * C; ++i) d[i] += s[i];
        } else {
          for (int64_t kw = k0; kw < k1; ++kw, d += g.dw * C, s += C)
            for (int64_t c = 0; c < C; ++c) d[c] += s[c];
        }
      }
    }
}

}  // namespace tc::cpu::patches
