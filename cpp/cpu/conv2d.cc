#include "cpu/conv2d.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "python/bridge.h"

namespace tc::cpu {
namespace {

// Sizes every loop below needs, read once from x, w and the window.
struct Dims {
  int64_t N, C, O, OHW, KK;  // KK = KH*KW*C: the GEMM's inner dimension
  int64_t xsize, ysize;      // elements of one image of x / of y
  bool direct;               // 1x1 kernel, stride 1, no padding: the patch matrix is x itself
};

Dims dims_of(const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc) {
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
// (0 outside the image). Rows are contiguous over the output positions.
template <typename T>
void im2col(const T* x, T* col, const Window2d& g, int64_t C) {
  const int64_t OW = g.ow, OHW = g.oh * g.ow;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        T* row = col + ((c * g.kh + kh) * g.kw + kw) * OHW;
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

// The transpose of im2col: dx[c, ih, iw] += dcol[(c, kh, kw), (oh, ow)]; dx zeroed first.
template <typename T>
void col2im(const T* col, T* dx, const Window2d& g, int64_t C) {
  const int64_t OW = g.ow, OHW = g.oh * g.ow;
  std::fill(dx, dx + C * g.ih * g.iw, T(0));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const T* row = col + ((c * g.kh + kh) * g.kw + kw) * OHW;
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

// NHWC, one image: P[(oh, ow), (kh, kw, c)] = x[oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, c]
// (0 outside). Each (kh, kw) piece of a patch row is C contiguous values of x.
template <typename T>
void gather_nhwc(const T* x, T* P, const Window2d& g, int64_t C) {
  const int64_t KK = g.kh * g.kw * C;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      T* p = P + (oh * g.ow + ow) * KK;
      for (int64_t kh = 0; kh < g.kh; ++kh) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.pad_top;
        if (ih < 0 || ih >= g.ih) {
          std::fill(p, p + g.kw * C, T(0));
          p += g.kw * C;
          continue;
        }
        for (int64_t kw = 0; kw < g.kw; ++kw, p += C) {
          const int64_t iw = ow * g.sw + kw * g.dw - g.pad_left;
          if (iw < 0 || iw >= g.iw)
            std::fill(p, p + C, T(0));
          else if (C == 1)  // a call to memcpy per element would cost more than the copy
            *p = x[ih * g.iw + iw];
          else
            std::memcpy(p, x + (ih * g.iw + iw) * C, sizeof(T) * C);
        }
      }
    }
}

// The transpose of gather_nhwc: dx[ih, iw, c] += dP[(oh, ow), (kh, kw, c)]; dx zeroed first.
template <typename T>
void scatter_nhwc(const T* P, T* dx, const Window2d& g, int64_t C) {
  const int64_t KK = g.kh * g.kw * C;
  std::fill(dx, dx + g.ih * g.iw * C, T(0));
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const T* p = P + (oh * g.ow + ow) * KK;
      for (int64_t kh = 0; kh < g.kh; ++kh) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.pad_top;
        if (ih < 0 || ih >= g.ih) {
          p += g.kw * C;
          continue;
        }
        for (int64_t kw = 0; kw < g.kw; ++kw, p += C) {
          const int64_t iw = ow * g.sw + kw * g.dw - g.pad_left;
          if (iw < 0 || iw >= g.iw) continue;
          T* d = dx + (ih * g.iw + iw) * C;
          for (int64_t c = 0; c < C; ++c) d[c] += p[c];
        }
      }
    }
}

// Small inner dimension (KK < kSmallK, e.g. a 3x3 conv of a 1-channel image): a GEMM
// would spend its time packing, so these direct loops run instead (vectorized per ISA).
constexpr int64_t kSmallK = 16;

// Both keep a block of outputs (two 64-byte vectors: 32 floats or 16 doubles) in registers
// across the K products, so y is written once instead of K times. GCC vector types make
// the two accumulators registers on every ISA path (AVX-512: 2 zmm; AVX2: 4 ymm).
template <typename T>
constexpr int64_t kBlock = 128 / sizeof(T);

// y[j] = (bias_vec ? bias_vec[j] : b) + sum_k a[k] * src[k * src_step + j], j < kBlock<T>.
template <typename T>
inline void block_dot(const T* a, const T* src, int64_t src_step, int64_t K, T b,
                      const T* bias_vec, T* y) {
  typedef T vec __attribute__((vector_size(64)));
  constexpr int64_t L = 64 / sizeof(T);
  vec acc0, acc1;
  if (bias_vec) {
    std::memcpy(&acc0, bias_vec, 64);
    std::memcpy(&acc1, bias_vec + L, 64);
  } else {
    acc0 = vec{} + b;
    acc1 = acc0;
  }
  for (int64_t k = 0; k < K; ++k) {
    const vec ak = vec{} + a[k];
    vec r0, r1;
    std::memcpy(&r0, src + k * src_step, 64);
    std::memcpy(&r1, src + k * src_step + L, 64);
    acc0 += ak * r0;
    acc1 += ak * r1;
  }
  std::memcpy(y, &acc0, 64);
  std::memcpy(y + L, &acc1, 64);
}

template <typename T>
inline void block_dot_tail(const T* a, const T* src, int64_t src_step, int64_t K, T b,
                           const T* bias_vec, T* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = bias_vec ? bias_vec[j] : b;
  for (int64_t k = 0; k < K; ++k) {
    const T ak = a[k];
    const T* r = src + k * src_step;
    for (int64_t j = 0; j < n; ++j) y[j] += ak * r[j];
  }
}

// NCHW: y[M, L] = A[M, K] * col[K, L] (+ bias[m] on row m).
template <typename T>
inline void rows_small_k(const T* A, const T* col, const T* bias, T* y, int64_t M, int64_t K, int64_t L) {
  for (int64_t m = 0; m < M; ++m) {
    const T b = bias ? bias[m] : T(0);
    int64_t l = 0;
    for (; l + kBlock<T> <= L; l += kBlock<T>)
      block_dot<T>(A + m * K, col + l, L, K, b, nullptr, y + m * L + l);
    block_dot_tail<T>(A + m * K, col + l, L, K, b, nullptr, y + m * L + l, L - l);
  }
}

// NHWC: y[M, N] = P[M, K] * B[K, N] (+ bias[n] on column n).
template <typename T>
inline void cols_small_k(const T* P, const T* B, const T* bias, T* y, int64_t M, int64_t K, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    int64_t n = 0;
    for (; n + kBlock<T> <= N; n += kBlock<T>)
      block_dot<T>(P + m * K, B + n, N, K, T(0), bias ? bias + n : nullptr, y + m * N + n);
    block_dot_tail<T>(P + m * K, B + n, N, K, T(0), bias ? bias + n : nullptr, y + m * N + n, N - n);
  }
}

// Sum of a row, in 16 independent lanes so that it vectorizes without -ffast-math.
template <typename T>
inline double row_sum(const T* r, int64_t n) {
  T lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] += r[i + j];
  double s = 0;
  for (int j = 0; j < 16; ++j) s += lanes[j];
  for (; i < n; ++i) s += r[i];
  return s;
}

#define TC_CONV_SMALLK(T, S)                                                                    \
  TC_ISA_FN(rows_small_k_##S, (const T* A, const T* col, const T* b, T* y, int64_t M, int64_t K, \
                               int64_t L), (A, col, b, y, M, K, L),                              \
            { rows_small_k(A, col, b, y, M, K, L); })                                           \
  TC_ISA_FN(cols_small_k_##S, (const T* P, const T* B, const T* b, T* y, int64_t M, int64_t K,   \
                               int64_t N), (P, B, b, y, M, K, N),                                \
            { cols_small_k(P, B, b, y, M, K, N); })                                             \
  TC_ISA_FN(row_sums_##S, (const T* g, int64_t rows, int64_t n, double* out), (g, rows, n, out), \
            { for (int64_t r = 0; r < rows; ++r) out[r] += row_sum(g + r * n, n); })
TC_CONV_SMALLK(float, f32)
TC_CONV_SMALLK(double, f64)
#undef TC_CONV_SMALLK

inline void small_k(bool nhwc, const float* a, const float* b, const float* bias, float* y, int64_t M,
                    int64_t K, int64_t N) {
  nhwc ? cols_small_k_f32(a, b, bias, y, M, K, N) : rows_small_k_f32(a, b, bias, y, M, K, N);
}
inline void small_k(bool nhwc, const double* a, const double* b, const double* bias, double* y,
                    int64_t M, int64_t K, int64_t N) {
  nhwc ? cols_small_k_f64(a, b, bias, y, M, K, N) : rows_small_k_f64(a, b, bias, y, M, K, N);
}
inline void row_sums(const float* g, int64_t rows, int64_t n, double* out) { row_sums_f32(g, rows, n, out); }
inline void row_sums(const double* g, int64_t rows, int64_t n, double* out) { row_sums_f64(g, rows, n, out); }

// The patch matrix of images [n, n + cnt) in `buf`, or x itself for a direct 1x1 conv.
// NCHW: cnt is 1, the matrix col[KK, OHW]. NHWC: the images' patch rows stacked into one
// [cnt * OHW, KK] matrix (y's rows of consecutive images are contiguous too, so one GEMM
// covers the group and packs W once).
template <typename T>
const T* patches(const T* X, int64_t n, int64_t cnt, T* buf, const Window2d& g, const Dims& d,
                 bool nhwc) {
  if (d.direct) return X + n * d.xsize;
  for (int64_t i = 0; i < cnt; ++i) {
    if (nhwc)
      gather_nhwc(X + (n + i) * d.xsize, buf + i * d.OHW * d.KK, g, d.C);
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

// Runs fn(part, n_begin, n_end) over the batch split into `parts` contiguous ranges.
// With one part (batch 1, or one thread) the caller runs it and each GEMM inside uses
// every thread; with several parts each runs on one thread (the GEMM inside is serial).
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

int64_t parts_for(int64_t N) { return std::min<int64_t>(N, num_threads()); }

template <typename T>
void forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
             const Tensor& y) {
  const Dims d = dims_of(x, w, g, nhwc);
  const T* X = x.ptr<T>();
  const T* W = w.ptr<T>();
  const T* B = bias ? bias->ptr<T>() : nullptr;
  T* Y = y.ptr<T>();
  const int64_t grp = group_of<T>(d, nhwc);
  over_batch(d.N, parts_for(d.N), [&](int64_t, int64_t n0, int64_t n1) {
    auto buf = scratch<T>(d.direct ? 0 : grp * d.OHW * d.KK);
    for (int64_t n = n0; n < n1; n += grp) {
      const int64_t cnt = std::min(grp, n1 - n), rows = cnt * d.OHW;
      const T* col = patches(X, n, cnt, buf.get(), g, d, nhwc);
      T* yn = Y + n * d.ysize;
      if (d.KK < kSmallK) {
        if (nhwc)
          small_k(true, col, W, B, yn, rows, d.KK, d.O);
        else
          small_k(false, W, col, B, yn, d.O, d.KK, d.OHW);
      } else if (nhwc) {
        // y[rows, O] = P[rows, KK] * W[KK, O]
        gemm(false, false, rows, d.O, d.KK, T(1), col, d.KK, W, d.O, T(0), yn, d.O);
        if (B)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < d.O; ++o) yn[r * d.O + o] += B[o];
      } else {
        // y[O, OHW] = W[O, KK] * col[KK, OHW]
        gemm(false, false, d.O, d.OHW, d.KK, T(1), W, d.KK, col, d.OHW, T(0), yn, d.OHW);
        if (B)
          for (int64_t o = 0; o < d.O; ++o)
            for (int64_t r = 0; r < d.OHW; ++r) yn[o * d.OHW + r] += B[o];
      }
    }
  });
}

template <typename T>
void backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc,
              const Tensor* dx, const Tensor* dw, const Tensor* dbias) {
  const Dims d = dims_of(x, w, g, nhwc);
  const T* G = grad.ptr<T>();
  const T* X = x.ptr<T>();
  const T* W = w.ptr<T>();
  T* DX = dx ? dx->ptr<T>() : nullptr;
  const int64_t parts = parts_for(d.N);
  const int64_t wsize = d.KK * d.O;
  const int64_t grp = group_of<T>(d, nhwc);
  // dw and dbias are sums over the batch: each part accumulates its own copy (part 0
  // straight into dw), then they are added up; dbias partials in double for accuracy.
  std::vector<T> dw_parts(dw ? (parts - 1) * wsize : 0);
  std::vector<double> db_parts(dbias ? parts * d.O : 0, 0.0);

  over_batch(d.N, parts, [&](int64_t p, int64_t n0, int64_t n1) {
    T* acc = dw ? (p == 0 ? dw->ptr<T>() : dw_parts.data() + (p - 1) * wsize) : nullptr;
    auto buf = scratch<T>(dw && !d.direct ? grp * d.OHW * d.KK : 0);
    auto dbuf = scratch<T>(dx && !d.direct ? grp * d.OHW * d.KK : 0);
    double* db = dbias ? db_parts.data() + p * d.O : nullptr;
    for (int64_t n = n0; n < n1; n += grp) {
      const int64_t cnt = std::min(grp, n1 - n), rows = cnt * d.OHW;
      const T* gn = G + n * d.ysize;
      const T beta = n == n0 ? T(0) : T(1);
      if (acc) {
        const T* col = patches(X, n, cnt, buf.get(), g, d, nhwc);
        if (nhwc)  // dW[KK, O] += P^T[KK, rows] * G[rows, O]
          gemm(true, false, d.KK, d.O, rows, T(1), col, d.KK, gn, d.O, beta, acc, d.O);
        else  // dW[O, KK] += G[O, OHW] * col^T[OHW, KK]
          gemm(false, true, d.O, d.KK, d.OHW, T(1), gn, d.OHW, col, d.OHW, beta, acc, d.KK);
      }
      if (DX) {
        T* dxn = DX + n * d.xsize;
        T* dcol = d.direct ? dxn : dbuf.get();
        if (nhwc)  // dP[rows, KK] = G[rows, O] * W^T[O, KK]
          gemm(false, true, rows, d.KK, d.O, T(1), gn, d.O, W, d.O, T(0), dcol, d.KK);
        else  // dcol[KK, OHW] = W^T[KK, O] * G[O, OHW]
          gemm(true, false, d.KK, d.OHW, d.O, T(1), W, d.KK, gn, d.OHW, T(0), dcol, d.OHW);
        if (!d.direct)
          for (int64_t i = 0; i < cnt; ++i) {
            if (nhwc)
              scatter_nhwc(dcol + i * d.OHW * d.KK, dxn + i * d.xsize, g, d.C);
            else
              col2im(dcol, dxn, g, d.C);
          }
      }
      if (db) {
        if (nhwc)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t o = 0; o < d.O; ++o) db[o] += gn[r * d.O + o];
        else
          row_sums(gn, d.O, d.OHW, db);
      }
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
            const Tensor& y) {
  TC_FLOAT_TYPES("conv2d", x.dtype, T, forward<T>(x, w, bias, g, nhwc, y));
}

void conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                     bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias) {
  TC_FLOAT_TYPES("conv2d_backward", x.dtype, T, backward<T>(grad, x, w, g, nhwc, dx, dw, dbias));
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
  if (!PyUnicode_Check(layout.ptr()))
    type_error(op, "layout", "expected 'NCHW' or 'NHWC', got ", std::string(pyb::repr(layout)));
  o.nhwc = py::nhwc_from(layout.cast<std::string>(), op);
  o.stride = py::pair_from(stride, op, "stride");
  o.padding = py::padding_from(padding, op, "padding");
  o.dilation = py::pair_from(dilation, op, "dilation");
  return o;
}

void check_cpu(const char* op, const Tensor& x) {
  if (x.device != Device::cpu) value_error(op, "x", "CUDA tensors need a CUDA build of twincore");
}

pyb::object conv2d_py(pyb::handle x_obj, pyb::handle w_obj, pyb::handle b_obj, pyb::handle stride,
                      pyb::handle padding, pyb::handle dilation, pyb::handle layout,
                      pyb::handle allocator) {
  const char* op = "conv2d";
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  auto b = py::optional_arg(b_obj, op, "bias");
  Options o = options_from(stride, padding, dilation, layout, op);
  Shape ys;
  Window2d g = cpu::conv2d_check(x.t, w.t, b ? &b->t : nullptr, o.stride, o.padding, o.dilation,
                                 o.nhwc, &ys, op);
  check_cpu(op, x.t);
  auto y = py::alloc(allocator, ys, x.t.dtype, op);
  {
    pyb::gil_scoped_release nogil;
    cpu::conv2d(x.t, w.t, b ? &b->t : nullptr, g, o.nhwc, y.t);
  }
  return y.obj;
}

pyb::object conv2d_backward_py(pyb::handle g_obj, pyb::handle x_obj, pyb::handle w_obj,
                               pyb::handle stride, pyb::handle padding, pyb::handle dilation,
                               pyb::handle layout, bool need_x, bool need_w, bool need_bias,
                               pyb::handle allocator) {
  const char* op = "conv2d_backward";
  auto gr = py::arg(g_obj, op, "grad");
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  Options o = options_from(stride, padding, dilation, layout, op);
  Shape ys;
  Window2d g = cpu::conv2d_check(x.t, w.t, nullptr, o.stride, o.padding, o.dilation, o.nhwc, &ys, op);
  check_input_like(op, "grad", gr.t, x.t);
  check_shape(op, "grad", gr.t, ys);
  check_cpu(op, x.t);
  const int64_t O = o.nhwc ? w.t.size(3) : w.t.size(0);
  std::optional<py::Out> dx, dw, db;
  if (need_x) dx = py::alloc(allocator, x.t.shape, x.t.dtype, op);
  if (need_w) dw = py::alloc(allocator, w.t.shape, x.t.dtype, op);
  if (need_bias) db = py::alloc(allocator, Shape{O}, x.t.dtype, op);
  {
    pyb::gil_scoped_release nogil;
    cpu::conv2d_backward(gr.t, x.t, w.t, g, o.nhwc, dx ? &dx->t : nullptr, dw ? &dw->t : nullptr,
                         db ? &db->t : nullptr);
  }
  auto obj = [](std::optional<py::Out>& t) { return t ? t->obj : pyb::none().cast<pyb::object>(); };
  return pyb::make_tuple(obj(dx), obj(dw), obj(db));
}

}  // namespace

TC_BIND(conv2d) {
  m.def("conv2d", &conv2d_py);
  m.def("conv2d_backward", &conv2d_backward_py);
}
