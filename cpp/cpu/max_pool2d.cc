#include "cpu/max_pool2d.h"

#include <algorithm>
#include <atomic>
#include <limits>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/max_pool2d.h"
#include "python/gpu_py.h"


namespace tc::cpu {
namespace {

// A cell replaces the running max if it is larger or NaN (torch's rule: NaN wins,
// and once the max is NaN only a later NaN moves the index).
// Bitwise | and selects below, no branches: on random data a branch on the
// comparison mispredicts half the time (that costs torch's NCHW kernel ~4x).
template <typename T>
TC_INLINE bool wins(T v, T m) { return (v > m) | (v != v); }

// The rows [h0, h1) of the input a window starting at padded row `o * s` covers.
TC_INLINE void span(int64_t o, int64_t s, int64_t pad, int64_t k, int64_t in, int64_t& a, int64_t& b) {
  a = o * s - pad;
  b = std::min(a + k, in);
  a = std::max<int64_t>(a, 0);
}

// NCHW: planes [p0, p1) of x (each ih*iw) -> y planes (each oh*ow). Scalar per
// output like torch's kernel, with the window clamped once (no per-cell test).
template <typename T, bool kIdx>
TC_INLINE void planes_nchw(const T* x, T* y, int64_t* idx, const Window2d& g, int64_t p0, int64_t p1) {
  const int64_t in_plane = g.ih * g.iw, out_plane = g.oh * g.ow;
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    int64_t* ip = kIdx ? idx + p * out_plane : nullptr;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      int64_t h0, h1;
      span(oh, g.sh, g.pad_top, g.kh, g.ih, h0, h1);
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        int64_t w0, w1;
        span(ow, g.sw, g.pad_left, g.kw, g.iw, w0, w1);
        // Branch-free: `v > m ? v : m` is one maxss/maxsd; the index moves by a mask.
        // A NaN never enters m; it is tracked by `nan` and stored from x at the end.
        T m = -std::numeric_limits<T>::infinity();
        int64_t mi = h0 * g.iw + w0;
        bool nan = false;
        for (int64_t h = h0; h < h1; ++h) {
          const T* row = xp + h * g.iw;
          for (int64_t w = w0; w < w1; ++w) {
            const T v = row[w];
            const bool isn = v != v;
            if (kIdx) {
              const int64_t take = -int64_t((int(v > m) & int(!nan)) | int(isn));  // all ones or 0
              mi = ((h * g.iw + w) & take) | (mi & ~take);
            }
            nan |= isn;
            m = v > m ? v : m;
          }
        }
        if (nan) m = kIdx ? xp[mi] : std::numeric_limits<T>::quiet_NaN();
        yp[oh * g.ow + ow] = m;
        if (kIdx) ip[oh * g.ow + ow] = mi;
      }
    }
  }
}

// NCHW, 2x2 windows at stride 2 without padding (the common pool): the same rule as
// planes_nchw over the cells in row-major order, written per output column so that the
// loop over ow vectorizes (stride-2 loads and selects; planes_nchw's scalar loop took
// ~11 ns an output).
template <typename T, bool kIdx>
TC_INLINE void planes_nchw_2x2(const T* x, T* y, int64_t* idx, const Window2d& g, int64_t p0, int64_t p1) {
  const int64_t in_plane = g.ih * g.iw, out_plane = g.oh * g.ow, IW = g.iw;
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const T* __restrict r0 = x + p * in_plane + 2 * oh * IW;
      const T* __restrict r1 = r0 + IW;
      T* __restrict yr = y + p * out_plane + oh * g.ow;
      int64_t* __restrict ir = kIdx ? idx + p * out_plane + oh * g.ow : nullptr;
      const int64_t base = 2 * oh * IW;  // flat index of the window row's first cell
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const T v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        T m = -std::numeric_limits<T>::infinity();
        int32_t a = 0, nan = 0;  // the winning cell (0..3) by masks, not branches
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          const int32_t isn = v[i] != v[i];
          const int32_t take = (int32_t(v[i] > m) & (nan ^ 1)) | isn;
          a ^= (a ^ i) & -take;
          nan |= isn;
          m = v[i] > m ? v[i] : m;
        }
        yr[ow] = m;
        if (kIdx) ir[ow] = base + 2 * ow + (a & 1) + (a >> 1) * IW;
        // A NaN never enters m: the window's value is then the NaN at a (kIdx) or a quiet NaN
        // (a rare branch; a select chain on a compiled to branches that mispredict).
        if (__builtin_expect(nan, 0)) yr[ow] = kIdx ? v[a] : std::numeric_limits<T>::quiet_NaN();
      }
    }
}

// NHWC: output rows r = n*oh + oh in [r0, r1). Each output pixel is a max over the
// window's pixels of whole channel vectors: the inner loop runs over C contiguously
// and vectorizes (selects, no branches).
template <typename T, bool kIdx>
TC_INLINE void rows_nhwc(const T* x, T* y, int64_t* idx, const Window2d& g, int64_t C, int64_t r0,
                         int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.oh, oh = r % g.oh;
    const T* xn = x + n * g.ih * g.iw * C;
    int64_t h0, h1;
    span(oh, g.sh, g.pad_top, g.kh, g.ih, h0, h1);
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      int64_t w0, w1;
      span(ow, g.sw, g.pad_left, g.kw, g.iw, w0, w1);
      T* __restrict yp = y + (r * g.ow + ow) * C;
      int64_t* __restrict ip = kIdx ? idx + (r * g.ow + ow) * C : nullptr;
      const int64_t first = h0 * g.iw + w0;
      for (int64_t c = 0; c < C; ++c) yp[c] = -std::numeric_limits<T>::infinity();
      if (kIdx)
        for (int64_t c = 0; c < C; ++c) ip[c] = first;
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = w0; w < w1; ++w) {
          const int64_t cell = h * g.iw + w;
          const T* __restrict xc = xn + cell * C;
          for (int64_t c = 0; c < C; ++c) {
            T v = xc[c];
            bool take = wins(v, yp[c]);
            yp[c] = take ? v : yp[c];
            if (kIdx) ip[c] = take ? cell : ip[c];
          }
        }
      }
    }
  }
}

// NHWC, 2x2 windows at stride 2 without padding (the CNN's pool): rows_nhwc's rule over the
// four cells in row-major order, with the running max and index in registers instead of
// y and idx (rows_nhwc reads and writes them back per cell), and each output written once.
template <typename T, bool kIdx>
TC_INLINE void rows_nhwc_2x2(const T* x, T* y, int64_t* idx, const Window2d& g, int64_t C, int64_t r0,
                             int64_t r1) {
  const int64_t IW = g.iw;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.oh, oh = r % g.oh;
    const T* xn = x + n * g.ih * IW * C;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const int64_t c0 = 2 * oh * IW + 2 * ow;  // the window's first cell; then +1, +IW, +IW+1
      const T* __restrict a = xn + c0 * C;
      const T* __restrict b = a + C;
      const T* __restrict c = a + IW * C;
      const T* __restrict d = c + C;
      T* __restrict yp = y + (r * g.ow + ow) * C;
      int64_t* __restrict ip = kIdx ? idx + (r * g.ow + ow) * C : nullptr;
      for (int64_t ch = 0; ch < C; ++ch) {
        T m = -std::numeric_limits<T>::infinity();
        int64_t i = c0;
        T v = a[ch];
        bool t = wins(v, m);
        m = t ? v : m;
        v = b[ch];
        t = wins(v, m);
        m = t ? v : m;
        if (kIdx) i = t ? c0 + 1 : i;
        v = c[ch];
        t = wins(v, m);
        m = t ? v : m;
        if (kIdx) i = t ? c0 + IW : i;
        v = d[ch];
        t = wins(v, m);
        m = t ? v : m;
        if (kIdx) i = t ? c0 + IW + 1 : i;
        yp[ch] = m;
        if (kIdx) ip[ch] = i;
      }
    }
  }
}

#define TC_POOL_FNS(T, sfx)                                                                        \
  TC_ISA_FN(planes_nchw_##sfx,                                                                     \
            (const T* x, T* y, int64_t* idx, const Window2d& g, int64_t p0, int64_t p1),           \
            (x, y, idx, g, p0, p1), {                                                              \
              const bool k2 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.pad_top == 0 &&  \
                              g.pad_left == 0 && g.oh * 2 <= g.ih && g.ow * 2 <= g.iw;             \
              if (k2 && idx) planes_nchw_2x2<T, true>(x, y, idx, g, p0, p1);                       \
              else if (k2) planes_nchw_2x2<T, false>(x, y, idx, g, p0, p1);                        \
              else if (idx) planes_nchw<T, true>(x, y, idx, g, p0, p1);                            \
              else planes_nchw<T, false>(x, y, idx, g, p0, p1);                                    \
            })                                                                                     \
  TC_ISA_FN(rows_nhwc_##sfx,                                                                       \
            (const T* x, T* y, int64_t* idx, const Window2d& g, int64_t C, int64_t r0, int64_t r1), \
            (x, y, idx, g, C, r0, r1), {                                                           \
              const bool k2 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.pad_top == 0 &&  \
                              g.pad_left == 0 && g.oh * 2 <= g.ih && g.ow * 2 <= g.iw;             \
              if (k2 && idx) rows_nhwc_2x2<T, true>(x, y, idx, g, C, r0, r1);                      \
              else if (k2) rows_nhwc_2x2<T, false>(x, y, idx, g, C, r0, r1);                       \
              else if (idx) rows_nhwc<T, true>(x, y, idx, g, C, r0, r1);                           \
              else rows_nhwc<T, false>(x, y, idx, g, C, r0, r1);                                   \
            })

TC_POOL_FNS(float, f32)
TC_POOL_FNS(double, f64)

template <typename T>
void forward(const Tensor& x, const Window2d& g, bool nhwc, const Tensor& y, const Tensor* indices) {
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  int64_t* ip = indices ? indices->ptr<int64_t>() : nullptr;
  const int64_t work = g.oh * g.ow * g.kh * g.kw;  // per plane (NCHW) / per channel-row (NHWC)
  if (!nhwc) {
    const int64_t planes = x.size(0) * x.size(1);
    parallel_for(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, work)), [&](int64_t a, int64_t b) {
      if constexpr (std::is_same_v<T, float>) planes_nchw_f32(xp, yp, ip, g, a, b);
      else planes_nchw_f64(xp, yp, ip, g, a, b);
    });
  } else {
    const int64_t C = x.size(3), rows = x.size(0) * g.oh;
    const int64_t per_row = g.ow * g.kh * g.kw * C;
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, per_row)), [&](int64_t a, int64_t b) {
      if constexpr (std::is_same_v<T, float>) rows_nhwc_f32(xp, yp, ip, g, C, a, b);
      else rows_nhwc_f64(xp, yp, ip, g, C, a, b);
    });
  }
}

// Scatter of one (n, c) plane's grads (NCHW): index checked before every write.
template <typename T>
bool scatter_plane(const T* gp, const int64_t* ip, T* dxp, int64_t out_plane, int64_t in_plane) {
  std::fill(dxp, dxp + in_plane, T(0));
  bool ok = true;
  for (int64_t o = 0; o < out_plane; ++o) {
    const int64_t i = ip[o];
    if (static_cast<uint64_t>(i) < static_cast<uint64_t>(in_plane)) dxp[i] += gp[o];
    else ok = false;
  }
  return ok;
}

template <typename T>
bool backward(const Tensor& grad, const Tensor& indices, const Window2d& g, bool nhwc, const Tensor& dx) {
  const T* gp = grad.ptr<T>();
  const int64_t* ip = indices.ptr<int64_t>();
  T* dxp = dx.ptr<T>();
  const int64_t N = grad.size(0), in_plane = g.ih * g.iw, out_plane = g.oh * g.ow;
  std::atomic<bool> ok{true};
  if (!nhwc) {
    const int64_t planes = N * grad.size(1);
    parallel_for(planes, std::max<int64_t>(1, 8192 / (in_plane + out_plane)), [&](int64_t a, int64_t b) {
      bool good = true;
      for (int64_t p = a; p < b; ++p)
        good &= scatter_plane(gp + p * out_plane, ip + p * out_plane, dxp + p * in_plane, out_plane, in_plane);
      if (!good) ok = false;
    });
  } else {
    // Tasks own (image n, block of channels): no two tasks write the same dx cell.
    const int64_t C = grad.size(3), cb = 64, blocks = (C + cb - 1) / cb;
    parallel_for(N * blocks, 1, [&](int64_t a, int64_t b) {
      bool good = true;
      for (int64_t t = a; t < b; ++t) {
        const int64_t n = t / blocks, c0 = (t % blocks) * cb, c1 = std::min(C, c0 + cb);
        T* dn = dxp + n * in_plane * C;
        for (int64_t cell = 0; cell < in_plane; ++cell)
          std::fill(dn + cell * C + c0, dn + cell * C + c1, T(0));
        const T* gn = gp + n * out_plane * C;
        const int64_t* in = ip + n * out_plane * C;
        for (int64_t o = 0; o < out_plane; ++o)
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t i = in[o * C + c];
            if (static_cast<uint64_t>(i) < static_cast<uint64_t>(in_plane)) dn[i * C + c] += gn[o * C + c];
            else good = false;
          }
      }
      if (!good) ok = false;
    });
  }
  return ok;
}

}  // namespace

Window2d max_pool2d_check(const Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, PadSpec pad,
                          bool nhwc) {
  const char* op = "max_pool2d";
  check_input(op, "x", x);
  check_rank(op, "x", x, 4, 4);
  const int64_t ih = nhwc ? x.size(1) : x.size(2), iw = nhwc ? x.size(2) : x.size(3);
  Window2d g = make_window(op, "kernel_size", ih, iw, kh, kw, sh, sw, 1, 1, pad);
  if (pad.mode == PadMode::explicit_pad && (pad.h > kh / 2 || pad.w > kw / 2))
    value_error(op, "padding", "must be at most half the kernel size (", kh / 2, ", ", kw / 2, "), got (",
                pad.h, ", ", pad.w, ")");
  return g;
}

Shape max_pool2d_out_shape(const Tensor& x, const Window2d& g, bool nhwc) {
  return nhwc ? Shape{x.size(0), g.oh, g.ow, x.size(3)} : Shape{x.size(0), x.size(1), g.oh, g.ow};
}

void max_pool2d(const Tensor& x, const Window2d& g, bool nhwc, const Tensor& y, const Tensor* indices) {
  TC_FLOAT_TYPES("max_pool2d", x.dtype, T, forward<T>(x, g, nhwc, y, indices));
}

Window2d max_pool2d_backward_check(const Tensor& grad, const Tensor& indices, const Shape& x_shape, bool nhwc) {
  const char* op = "max_pool2d_backward";
  check_input(op, "grad", grad);
  check_rank(op, "grad", grad, 4, 4);
  check_same_device(op, "indices", indices, grad);
  if (indices.dtype != DType::i64)
    type_error(op, "indices", "expected int64 indices, got ", dtype_name(indices.dtype));
  check_contiguous(op, "indices", indices);
  check_shape(op, "indices", indices, grad.shape);
  if (x_shape.ndim != 4) value_error(op, "x_shape", "expected 4 dimensions, got ", x_shape.str());
  for (int i = 0; i < 4; ++i)
    if (x_shape[i] < 1) value_error(op, "x_shape", "dimensions must be >= 1, got ", x_shape.str());
  const int c_axis = nhwc ? 3 : 1;
  if (x_shape[0] != grad.size(0) || x_shape[c_axis] != grad.size(c_axis))
    value_error(op, "x_shape", "batch and channels of ", x_shape.str(), " do not match grad's ",
                grad.shape.str(), " (layout ", nhwc ? "NHWC" : "NCHW", ")");
  Window2d g;
  g.ih = nhwc ? x_shape[1] : x_shape[2];
  g.iw = nhwc ? x_shape[2] : x_shape[3];
  g.oh = nhwc ? grad.size(1) : grad.size(2);
  g.ow = nhwc ? grad.size(2) : grad.size(3);
  return g;
}

void max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Window2d& g, bool nhwc,
                         const Tensor& dx) {
  bool ok = true;
  TC_FLOAT_TYPES("max_pool2d_backward", grad.dtype, T, ok = backward<T>(grad, indices, g, nhwc, dx));
  if (!ok)
    value_error("max_pool2d_backward", "indices", "an index lies outside [0, H*W) = [0, ", g.ih * g.iw,
                ") of its plane");
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

pyb::object max_pool2d_py(pyb::handle x_obj, pyb::handle kernel, pyb::handle stride, pyb::handle padding,
                          const std::string& layout, bool return_indices, pyb::handle allocator) {
  const char* op = "max_pool2d";
  auto x = py::arg(x_obj, op, "x");
  const bool nhwc = py::nhwc_from(layout, op);
  auto k = py::pair_from(kernel, op, "kernel_size");
  auto s = stride.is_none() ? k : py::pair_from(stride, op, "stride");
  PadSpec pad = py::padding_from(padding, op, "padding");
  py::device_ready(allocator, x.t, op, "x");
  Window2d g = cpu::max_pool2d_check(x.t, k.first, k.second, s.first, s.second, pad, nhwc);
  Shape ys = cpu::max_pool2d_out_shape(x.t, g, nhwc);
  auto y = py::alloc(allocator, ys, x.t.dtype, op);
  std::optional<py::Out> idx;
  if (return_indices) idx = py::alloc(allocator, ys, DType::i64, op);
  py::run(allocator, x.t, op, "x", {&x.t}, {&y.t, idx ? &idx->t : nullptr},
          [&] { cpu::max_pool2d(x.t, g, nhwc, y.t, idx ? &idx->t : nullptr); },
          [&](gpu::Gpu& gp) { gpu::max_pool2d(gp, x.t, g, nhwc, y.t, idx ? &idx->t : nullptr); });
  if (idx) return pyb::make_tuple(y.obj, idx->obj);
  return y.obj;
}

// kernel_size / stride / padding (max_pool2d's, optional): validated against grad's shape;
// on the GPU they select the deterministic gather kernel (the CPU kernel needs no window).
pyb::object max_pool2d_backward_py(pyb::handle grad_obj, pyb::handle indices_obj, pyb::handle x_shape,
                                   const std::string& layout, pyb::handle kernel, pyb::handle stride,
                                   pyb::handle padding, pyb::handle allocator) {
  const char* op = "max_pool2d_backward";
  auto grad = py::arg(grad_obj, op, "grad");
  py::device_ready(allocator, grad.t, op, "grad");
  auto indices = py::arg(indices_obj, op, "indices");
  const bool nhwc = py::nhwc_from(layout, op);
  Shape xs = py::shape_from(x_shape, op, "x_shape");
  Window2d g = cpu::max_pool2d_backward_check(grad.t, indices.t, xs, nhwc);
  std::optional<Window2d> win;
  if (!kernel.is_none()) {
    auto k = py::pair_from(kernel, op, "kernel_size");
    auto s = stride.is_none() ? k : py::pair_from(stride, op, "stride");
    PadSpec pad = padding.is_none() ? PadSpec{} : py::padding_from(padding, op, "padding");
    win = make_window(op, "kernel_size", g.ih, g.iw, k.first, k.second, s.first, s.second, 1, 1, pad);
    if (win->oh != g.oh || win->ow != g.ow)
      value_error(op, "grad", "the window gives an output of ", win->oh, "x", win->ow, ", grad has ", g.oh, "x",
                  g.ow);
  }
  auto dx = py::alloc(allocator, xs, grad.t.dtype, op);
  py::run(allocator, grad.t, op, "grad", {&grad.t, &indices.t}, {&dx.t},
          [&] { cpu::max_pool2d_backward(grad.t, indices.t, g, nhwc, dx.t); },
          [&](gpu::Gpu& gp) {
            gpu::max_pool2d_backward(gp, grad.t, indices.t, g, win ? &*win : nullptr, nhwc, dx.t);
          });
  return dx.obj;
}

}  // namespace

TC_BIND(max_pool2d) {
  m.def("max_pool2d", &max_pool2d_py);
  m.def("max_pool2d_backward", &max_pool2d_backward_py);
}
