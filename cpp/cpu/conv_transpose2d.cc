#include "cpu/conv_transpose2d.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>
#include <type_traits>


#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/conv2d.h"
#include "cpu/gemm.h"
#include "cpu/patches.h"
#include "cpu/transpose.h"
#include "gpu/conv_transpose2d.h"
#include "python/bridge.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {


// One axis of the output size (see the header); -1 when the geometry gives no output.
int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, PadSpec pad, int64_t pad_n, int64_t op) {
  const int64_t keff = d * (k - 1) + 1;
  if (pad.mode == PadMode::explicit_pad) return (in - 1) * s - 2 * pad_n + keff + (op < 0 ? 0 : op);
  if (pad.mode == PadMode::valid) return op < 0 ? in * s + std::max<int64_t>(keff - s, 0) : (in - 1) * s + keff + op;
  return op < 0 ? in * s : (in - 1) * s + keff - 2 * (keff / 2) + op;
}

// y[., c] += bias[c] over one image (NCHW: planes of HW; NHWC: rows of C).
template <typename T>
void add_bias(T* y, const T* b, int64_t C, int64_t HW, bool nhwc) {
  if (nhwc) {
    for (int64_t r = 0; r < HW; ++r)
      for (int64_t c = 0; c < C; ++c) y[r * C + c] += b[c];
  } else {
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) y[c * HW + i] += b[c];
  }
}

// dbias[c] = sum over batch and pixels of grad[., c], in double, in a fixed order (NCHW: the
// channels in parallel, each summed image by image, a plane in 8 lanes so that the adds do not
// wait on each other: the same bits for any split).
template <typename T>
void bias_grad(const T* g, T* db, int64_t N, int64_t C, int64_t HW, bool nhwc) {
  if (!nhwc) {
    parallel_for(C, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, N * HW)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* gc = g + (n * C + c) * HW;
          double lanes[8] = {};
          int64_t i = 0;
          for (; i + 8 <= HW; i += 8)
            for (int j = 0; j < 8; ++j) lanes[j] += gc[i + j];
          double s = 0;
          for (int j = 0; j < 8; ++j) s += lanes[j];
          for (; i < HW; ++i) s += gc[i];
          acc += s;
        }
        db[c] = T(acc);
      }
    });
    return;
  }
  std::vector<double> acc(C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const T* gn = g + n * C * HW;
    for (int64_t r = 0; r < HW; ++r)
      for (int64_t c = 0; c < C; ++c) acc[c] += gn[r * C + c];
  }
  for (int64_t c = 0; c < C; ++c) db[c] = T(acc[c]);
}

// ---------------------------------------------------------------------------
// NCHW on the whole batch at once. Per image, the GEMMs of conv2d's NCHW path are as narrow as
// the input map ([512 x 64] x [64 x 49] for 7x7 maps): here a group of images shares each GEMM,
// their pixels side by side as columns (x permuted to [Cin, images * P]), and col2im / im2col run
// on the column block of each image. g is the conv y -> x (g.ih x g.iw = y's map, g.oh x g.ow =
// x's map, P pixels); KK = Cout * KH * KW, the rows of the patch matrix.

struct NchwDims {
  int64_t N, Cin, Cout, P, KK, xsize, ysize;
};

NchwDims nchw_dims(const Tensor& x, const Tensor& w, const Window2d& g) {
  const int64_t Cout = w.size(1), P = g.oh * g.ow;
  return {x.size(0), x.size(1), Cout, P, Cout * g.kh * g.kw, x.size(1) * P, Cout * g.ih * g.iw};
}

// Images per group: a group's patch matrix [KK, images * P] within ~512 KB of float32, so it
// stays in a core's L2 from im2col (or the GEMM that writes it) to the GEMMs that read it.
// Groups run in parallel, each on one thread (its GEMMs single-threaded); the group size does not
// depend on the thread count, and neither do the results.
int64_t nchw_group(const NchwDims& d) {
  return std::clamp<int64_t>((int64_t(1) << 17) / std::max<int64_t>(1, d.KK * d.P), 1, d.N);
}

// xp[c, i*P + p] = x[n0 + i, c, p] (to_x: the reverse) for the cnt images of a group.
template <typename T>
void permute(T* x, T* xp, const NchwDims& d, int64_t n0, int64_t cnt, bool to_x) {
  const int64_t L = cnt * d.P;
  for (int64_t c = 0; c < d.Cin; ++c)
    for (int64_t i = 0; i < cnt; ++i) {
      T* xs = x + (n0 + i) * d.xsize + c * d.P;
      T* xq = xp + c * L + i * d.P;
      if (to_x)
        std::copy(xq, xq + d.P, xs);
      else
        std::copy(xs, xs + d.P, xq);
    }
}

// fn(group, n0, cnt, xp, col) for every group, groups shared out over the pool; xp [Cin, L] and
// col [KK, L] are the running thread's buffers (uninitialised).
template <typename T, typename F>
void over_groups(const NchwDims& d, int64_t grp, F&& fn) {
  const int64_t groups = (d.N + grp - 1) / grp;
  parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    std::unique_ptr<T[]> xp(new T[d.Cin * grp * d.P]), col(new T[d.KK * grp * d.P]);
    for (int64_t q = g0; q < g1; ++q) {
      const int64_t n0 = q * grp;
      fn(q, n0, std::min(grp, d.N - n0), xp.get(), col.get());
    }
  });
}

// ---------------------------------------------------------------------------
// NCHW through conv2d's NHWC direct kernels (the NHWC path's own), image by image: each image
// of x (and of grad) is transposed to NHWC in a cache-resident buffer, the kernel runs, and the
// result is transposed back. The im2col / col2im of the GEMM path above (a third of its time
// on the GAN's 64->32 layer: rows of 7 values at stride 2) are gone; the transposes are
// ~20K values an image. y and dx are the NHWC path's bits; dw too when the batch splits alike.
// Used where the NHWC path would run them: the weight fits L2 and Cout fills 64-byte vectors.

struct NchwDirect {
  int64_t Cin, Cout, P, KK, PW, psize;  // psize: one zero-padded NHWC image of y [PH, PW, Cout]
  std::vector<int64_t> off, base;       // see conv2d.h (conv2d_direct_*)
};

template <typename T>
bool nchw_direct_fits(const Tensor& x, const Tensor& w, const Window2d& g) {
  const bool one = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_bottom == 0 &&
                   g.pad_left == 0 && g.pad_right == 0;
  return conv2d_direct_fits(g.kh * g.kw * w.size(1), x.size(1), w.size(1), sizeof(T), one, true);
}

NchwDirect nchw_direct(const Tensor& x, const Tensor& w, const Window2d& g) {
  NchwDirect d;
  d.Cin = x.size(1), d.Cout = w.size(1), d.P = g.oh * g.ow, d.KK = g.kh * g.kw * d.Cout;
  d.PW = g.iw + g.pad_left + g.pad_right;
  d.psize = (g.ih + g.pad_top + g.pad_bottom) * d.PW * d.Cout;
  for (int64_t kh = 0; kh < g.kh; ++kh)
    for (int64_t kw = 0; kw < g.kw; ++kw)
      for (int64_t c = 0; c < d.Cout; ++c) d.off.push_back((kh * g.dh * d.PW + kw * g.dw) * d.Cout + c);
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow) d.base.push_back((oh * g.sh * d.PW + ow * g.sw) * d.Cout);
  return d;
}

// w [Cin, Cout, KH, KW] -> wk [(kh, kw, co), ci] (to_k: the NHWC weight) or [ci, (kh, kw, co)].
template <typename T>
std::vector<T> weight_as(const T* w, const NchwDirect& d, int64_t KHW, bool to_k) {
  std::vector<T> out(d.Cin * d.KK);
  for (int64_t ci = 0; ci < d.Cin; ++ci)
    for (int64_t co = 0; co < d.Cout; ++co)
      for (int64_t k = 0; k < KHW; ++k) {
        const int64_t kk = k * d.Cout + co;
        out[to_k ? kk * d.Cin + ci : ci * d.KK + kk] = w[(ci * d.Cout + co) * KHW + k];
      }
  return out;
}

// The padded NHWC image yp [PH, PW, C] <-> one NCHW image y [C, IH, IW] (the inner window), through
// pl [C, PH, PW] (the padded NCHW image: whole-image transposes, no short edges).
// to_nchw: y = yp's window (+ bias, added as the NHWC path adds it); else yp = y zero-padded.
template <typename T>
void padded_nhwc(T* yp, T* pl, T* y, const T* bias, const Window2d& g, const NchwDirect& d, bool to_nchw) {
  const int64_t C = d.Cout, HW = g.ih * g.iw, PP = d.psize / C;
  if (to_nchw) {
    transpose(yp, C, pl, PP, PP, C);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < g.ih; ++ih) {
        T* yr = y + c * HW + ih * g.iw;
        const T* pr = pl + c * PP + (ih + g.pad_top) * d.PW + g.pad_left;
        if (bias)
          for (int64_t iw = 0; iw < g.iw; ++iw) yr[iw] = pr[iw] + bias[c];
        else
          std::copy(pr, pr + g.iw, yr);
      }
  } else {
    std::fill(pl, pl + d.psize, T(0));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < g.ih; ++ih) {
        const T* yr = y + c * HW + ih * g.iw;
        std::copy(yr, yr + g.iw, pl + c * PP + (ih + g.pad_top) * d.PW + g.pad_left);
      }
    transpose(pl, PP, yp, C, C, PP);
  }
}

template <typename T>
void forward_nchw_direct(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, const Tensor& y) {
  const NchwDirect d = nchw_direct(x, w, g);
  const int64_t N = x.size(0), ysize = d.Cout * g.ih * g.iw;
  const std::vector<T> Wt = weight_as(w.ptr<T>(), d, g.kh * g.kw, false);  // [Cin, KK]
  const T* X = x.ptr<T>();
  const T* B = bias ? bias->ptr<T>() : nullptr;
  T* Y = y.ptr<T>();
  parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    std::unique_ptr<T[]> xt(new T[d.P * d.Cin]), yp(new T[d.psize]), pl(new T[d.psize]);
    for (int64_t n = n0; n < n1; ++n) {
      transpose(X + n * d.Cin * d.P, d.P, xt.get(), d.Cin, d.Cin, d.P);  // [Cin, P] -> [P, Cin]
      std::fill(yp.get(), yp.get() + d.psize, T(0));
      conv2d_direct_dx(xt.get(), Wt.data(), yp.get(), d.base.data(), d.off.data(), d.P, d.KK, d.Cin);
      padded_nhwc(yp.get(), pl.get(), Y + n * ysize, B, g, d, true);
    }
  });
}

template <typename T>
void backward_nchw_direct(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, const Tensor* dx,
                          const Tensor* dw) {
  const NchwDirect d = nchw_direct(x, w, g);
  const int64_t N = x.size(0), ysize = d.Cout * g.ih * g.iw, xsize = d.Cin * d.P, wsize = d.KK * d.Cin;
  const std::vector<T> Wk = dx ? weight_as(w.ptr<T>(), d, g.kh * g.kw, true) : std::vector<T>();  // [KK, Cin]
  const T* G = grad.ptr<T>();
  const T* X = x.ptr<T>();
  // dw: part q sums its images in order into acc [KK, Cin] (part 0 straight into the scratch's first
  // slot), the parts added in order afterwards. The split (8 parts of the batch) does not depend on
  // the thread count, and neither do the bits.
  const int64_t parts = std::min<int64_t>(N, 8);
  std::unique_ptr<T[]> acc(dw ? new T[parts * wsize] : nullptr);
  parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
    std::unique_ptr<T[]> gp(new T[d.psize]), pl(new T[d.psize]), xt(new T[d.P * d.Cin]);
    for (int64_t q = q0; q < q1; ++q) {
      T* a = dw ? acc.get() + q * wsize : nullptr;
      if (a) std::fill(a, a + wsize, T(0));
      for (int64_t n = q * N / parts; n < (q + 1) * N / parts; ++n) {
        padded_nhwc(gp.get(), pl.get(), const_cast<T*>(G + n * ysize), static_cast<const T*>(nullptr), g, d, false);
        if (dx) {  // the conv y -> x: dx[p, ci] = sum_k gp[base[p] + off[k]] * Wk[k, ci]
          conv2d_direct_fwd(gp.get(), d.base.data(), d.off.data(), Wk.data(), static_cast<const T*>(nullptr), xt.get(),
                            d.P, d.KK, d.Cin);
          transpose(xt.get(), d.Cin, dx->ptr<T>() + n * xsize, d.P, d.P, d.Cin);  // [P, Cin] -> [Cin, P]
        }
        if (a) {  // acc[k, ci] += sum_p gp[base[p] + off[k]] * x[p, ci]
          transpose(X + n * xsize, d.P, xt.get(), d.Cin, d.Cin, d.P);
          conv2d_direct_dw(gp.get(), d.base.data(), d.off.data(), xt.get(), a, d.P, d.KK, d.Cin);
        }
      }
    }
  });
  if (!dw) return;
  // acc_0 += acc_1 + ... in part order (contiguous, in parallel), then dw[ci, co, kh, kw] = acc_0[(kh, kw, co), ci].
  T* a0 = acc.get();
  parallel_for(wsize, 4096, [&](int64_t e0, int64_t e1) {
    for (int64_t q = 1; q < parts; ++q) {
      const T* src = a0 + q * wsize;
      for (int64_t e = e0; e < e1; ++e) a0[e] += src[e];
    }
  });
  T* out = dw->ptr<T>();
  const int64_t KHW = g.kh * g.kw;
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t k = 0; k < KHW; ++k) {
      const T* src = a0 + (k * d.Cout + co) * d.Cin;
      for (int64_t ci = 0; ci < d.Cin; ++ci) out[(ci * d.Cout + co) * KHW + k] = src[ci];
    }
}

template <typename T>
void forward_nchw(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, const Tensor& y) {
  if (nchw_direct_fits<T>(x, w, g)) return forward_nchw_direct<T>(x, w, bias, g, y);
  const NchwDims d = nchw_dims(x, w, g);
  T* X = x.ptr<T>();
  T* Y = y.ptr<T>();
  const T* W = w.ptr<T>();
  const T* B = bias ? bias->ptr<T>() : nullptr;
  over_groups<T>(d, nchw_group(d), [&](int64_t, int64_t n0, int64_t cnt, T* xp, T* col) {
    const int64_t L = cnt * d.P;
    permute(X, xp, d, n0, cnt, false);
    // col[KK, L] = w^T [KK, Cin] @ xp [Cin, L] (w is [Cin, KK])
    gemm(true, false, d.KK, L, d.Cin, T(1), W, d.KK, xp, L, T(0), col, L);
    for (int64_t i = 0; i < cnt; ++i) patches::col2im(col + i * d.P, Y + (n0 + i) * d.ysize, g, d.Cout, L, B);
  });
}

template <typename T>
void backward_nchw(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, const Tensor* dx,
                   const Tensor* dw) {
  if (nchw_direct_fits<T>(x, w, g)) return backward_nchw_direct<T>(grad, x, w, g, dx, dw);
  const NchwDims d = nchw_dims(x, w, g);
  const int64_t grp = nchw_group(d), groups = (d.N + grp - 1) / grp, wsize = d.Cin * d.KK;
  const T* G = grad.ptr<T>();
  const T* W = w.ptr<T>();
  T* X = x.ptr<T>();
  // dw of group q into part q (group 0 straight into dw), added up in group order afterwards.
  std::unique_ptr<T[]> parts(dw && groups > 1 ? new T[(groups - 1) * wsize] : nullptr);
  over_groups<T>(d, grp, [&](int64_t q, int64_t n0, int64_t cnt, T* xp, T* col) {
    const int64_t L = cnt * d.P;
    for (int64_t i = 0; i < cnt; ++i) patches::im2col(G + (n0 + i) * d.ysize, col + i * d.P, g, d.Cout, L);
    if (dx) {  // dx [Cin, L] = w [Cin, KK] @ col [KK, L]: the conv y -> x
      gemm(false, false, d.Cin, L, d.KK, T(1), W, d.KK, col, L, T(0), xp, L);
      permute(dx->ptr<T>(), xp, d, n0, cnt, true);
    }
    if (dw) {  // dw_q [Cin, KK] = x [Cin, L] @ col^T [L, KK]
      permute(X, xp, d, n0, cnt, false);
      gemm(false, true, d.Cin, d.KK, L, T(1), xp, L, col, L, T(0), q == 0 ? dw->ptr<T>() : parts.get() + (q - 1) * wsize,
           d.KK);
    }
  });
  if (dw && groups > 1) {
    T* out = dw->ptr<T>();
    parallel_for(wsize, 4096, [&](int64_t e0, int64_t e1) {
      for (int64_t q = 1; q < groups; ++q) {
        const T* src = parts.get() + (q - 1) * wsize;
        for (int64_t e = e0; e < e1; ++e) out[e] += src[e];
      }
    });
  }
}

}  // namespace

Window2d conv_transpose2d_check(const Tensor& x, const Tensor& w, const Tensor* bias,
                                std::pair<int64_t, int64_t> stride, PadSpec padding,
                                std::pair<int64_t, int64_t> output_padding,
                                std::pair<int64_t, int64_t> dilation, bool nhwc, Shape* out_shape,
                                const char* op) {
  check_input(op, "x", x);
  check_rank(op, "x", x, 4, 4);
  check_input_like(op, "w", w, x);
  check_rank(op, "w", w, 4, 4);
  const int64_t N = x.size(0), Cin = nhwc ? x.size(3) : x.size(1);
  const int64_t H = nhwc ? x.size(1) : x.size(2), W = nhwc ? x.size(2) : x.size(3);
  const int64_t wc = nhwc ? w.size(3) : w.size(0), Cout = nhwc ? w.size(2) : w.size(1);
  const int64_t kh = nhwc ? w.size(0) : w.size(2), kw = nhwc ? w.size(1) : w.size(3);
  if (wc != Cin)
    value_error(op, "w", "has ", wc, " input channels but x has ", Cin, " (",
                nhwc ? "NHWC x with a [KH, KW, out, in] w" : "NCHW x with an [in, out, KH, KW] w",
                ", w shape ", w.shape.str(), ")");
  if (bias) {
    check_input_like(op, "bias", *bias, x);
    check_shape(op, "bias", *bias, Shape{Cout});
  }
  if (kh < 1 || kw < 1) value_error(op, "w", "kernel size must be >= 1, got (", kh, ", ", kw, ")");
  if (stride.first < 1 || stride.second < 1)
    value_error(op, "stride", "must be >= 1, got (", stride.first, ", ", stride.second, ")");
  if (dilation.first < 1 || dilation.second < 1)
    value_error(op, "dilation", "must be >= 1, got (", dilation.first, ", ", dilation.second, ")");
  if (padding.mode == PadMode::explicit_pad && (padding.h < 0 || padding.w < 0))
    value_error(op, "padding", "must be >= 0, got (", padding.h, ", ", padding.w, ")");
  auto op_ok = [](int64_t p, int64_t s, int64_t d) { return p < 0 || p < s || p < d; };
  if (output_padding.first < -1 || output_padding.second < -1 ||
      !op_ok(output_padding.first, stride.first, dilation.first) ||
      !op_ok(output_padding.second, stride.second, dilation.second))
    value_error(op, "output_padding", "must be >= 0 and smaller than the stride or the dilation, got (",
                output_padding.first, ", ", output_padding.second, ")");
  const int64_t OH = out_len(H, kh, stride.first, dilation.first, padding, padding.h, output_padding.first);
  const int64_t OW = out_len(W, kw, stride.second, dilation.second, padding, padding.w, output_padding.second);
  if (OH < 1 || OW < 1)
    value_error(op, "padding", "leaves an empty output (", OH, "x", OW, ") for a ", H, "x", W, " input");
  // The conv OH x OW -> H x W whose input gradient this is. Its natural output is H x W, or
  // taller by output_padding // stride rows (torch's output_padding >= stride, allowed with
  // dilation): those rows of the conv's output are simply not part of x.
  Window2d g = make_window(op, "w", OH, OW, kh, kw, stride.first, stride.second, dilation.first,
                           dilation.second, padding);
  if (g.oh < H || g.ow < W || (padding.mode != PadMode::explicit_pad && (g.oh != H || g.ow != W)))
    value_error(op, "output_padding", "gives a ", OH, "x", OW, " output whose ", padding.mode == PadMode::same ? "'same'" : "'valid'",
                " convolution is ", g.oh, "x", g.ow, ", not the input's ", H, "x", W);
  g.oh = H, g.ow = W;
  if (out_shape) *out_shape = nhwc ? Shape{N, OH, OW, Cout} : Shape{N, Cout, OH, OW};
  return g;
}

void conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
                      const Tensor& y) {
  if (!nhwc) {
    TC_FLOAT_TYPES("conv_transpose2d", y.dtype, T, forward_nchw<T>(x, w, bias, g, y));
    return;
  }
  // conv2d_backward reads only the shape of its "x" when it computes dx alone: y stands in.
  conv2d_backward(x, y, w, g, nhwc, &y, nullptr, nullptr);
  if (!bias) return;
  const int64_t N = y.size(0), C = nhwc ? y.size(3) : y.size(1), HW = g.ih * g.iw;
  TC_FLOAT_TYPES("conv_transpose2d", y.dtype, T, {
    T* Y = y.ptr<T>();
    const T* B = bias->ptr<T>();
    parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) add_bias(Y + n * C * HW, B, C, HW, nhwc);
    });
  });
}

void conv_transpose2d_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                               bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias) {
  if (!nhwc && (dx || dw)) {  // one patch matrix of grad serves dx and dw
    TC_FLOAT_TYPES("conv_transpose2d_backward", grad.dtype, T, backward_nchw<T>(grad, x, w, g, dx, dw));
  } else {
    if (dx) conv2d(grad, w, nullptr, g, nhwc, *dx);                    // the conv y -> x itself
    if (dw) conv2d_backward(x, grad, w, g, nhwc, nullptr, dw, nullptr);  // x plays the conv's dL/dout
  }
  if (dbias) {
    const int64_t N = grad.size(0), C = nhwc ? grad.size(3) : grad.size(1);
    TC_FLOAT_TYPES("conv_transpose2d_backward", grad.dtype, T,
                   bias_grad(grad.ptr<T>(), dbias->ptr<T>(), N, C, g.ih * g.iw, nhwc));
  }
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

pyb::object forward_py(pyb::handle x_obj, pyb::handle w_obj, pyb::handle b_obj, pyb::handle stride,
                       pyb::handle padding, pyb::handle output_padding, pyb::handle dilation, pyb::handle layout,
                       pyb::handle allocator) {
  const char* op = "conv_transpose2d";
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  auto b = py::optional_arg(b_obj, op, "bias");
  py::ConvTransposeOptions o = py::conv_transpose2d_options(stride, padding, output_padding, dilation, layout, op);
  Shape ys;
  Window2d g = cpu::conv_transpose2d_check(x.t, w.t, b ? &b->t : nullptr, o.stride, o.padding,
                                           o.output_padding, o.dilation, o.nhwc, &ys, op);
  auto y = py::alloc(allocator, ys, x.t.dtype, op);
  py::run(allocator, x.t, op, "x", {&x.t, &w.t, b ? &b->t : nullptr}, {&y.t},
          [&] { cpu::conv_transpose2d(x.t, w.t, b ? &b->t : nullptr, g, o.nhwc, y.t); },
          [&](gpu::Gpu& gg) { gpu::conv_transpose2d(gg, x.t, w.t, b ? &b->t : nullptr, g, o.nhwc, y.t); });
  return y.obj;
}

pyb::object backward_py(pyb::handle g_obj, pyb::handle x_obj, pyb::handle w_obj, pyb::handle stride,
                        pyb::handle padding, pyb::handle output_padding, pyb::handle dilation,
                        pyb::handle layout, bool need_x, bool need_w, bool need_bias, pyb::handle allocator) {
  const char* op = "conv_transpose2d_backward";
  auto gr = py::arg(g_obj, op, "grad");
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  py::ConvTransposeOptions o = py::conv_transpose2d_options(stride, padding, output_padding, dilation, layout, op);
  Shape ys;
  Window2d g = cpu::conv_transpose2d_check(x.t, w.t, nullptr, o.stride, o.padding, o.output_padding,
                                           o.dilation, o.nhwc, &ys, op);
  check_input_like(op, "grad", gr.t, x.t);
  check_shape(op, "grad", gr.t, ys);
  const int64_t Cout = o.nhwc ? w.t.size(2) : w.t.size(1);
  std::optional<py::Out> dx, dw, db;
  if (need_x) dx = py::alloc(allocator, x.t.shape, x.t.dtype, op);
  if (need_w) dw = py::alloc(allocator, w.t.shape, x.t.dtype, op);
  if (need_bias) db = py::alloc(allocator, Shape{Cout}, x.t.dtype, op);
  py::run(allocator, x.t, op, "x", {&gr.t, &x.t, &w.t}, {dx ? &dx->t : nullptr, dw ? &dw->t : nullptr, db ? &db->t : nullptr},
          [&] { cpu::conv_transpose2d_backward(gr.t, x.t, w.t, g, o.nhwc, dx ? &dx->t : nullptr,
                                               dw ? &dw->t : nullptr, db ? &db->t : nullptr); },
          [&](gpu::Gpu& gg) {
            gpu::conv_transpose2d_backward(gg, gr.t, x.t, w.t, g, o.nhwc, dx ? &dx->t : nullptr,
                                           dw ? &dw->t : nullptr, db ? &db->t : nullptr);
          });
  auto obj = [](std::optional<py::Out>& t) { return t ? t->obj : pyb::none().cast<pyb::object>(); };
  return pyb::make_tuple(obj(dx), obj(dw), obj(db));
}

}  // namespace

TC_BIND(conv_transpose2d) {
  m.def("conv_transpose2d", &forward_py);
  m.def("conv_transpose2d_backward", &backward_py);
}
