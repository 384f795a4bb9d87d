#include "cpu/conv_transpose2d.h"

#include <optional>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/conv2d.h"
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

// dbias[c] = sum over batch and pixels of grad[., c], in double, in a fixed order.
template <typename T>
void bias_grad(const T* g, T* db, int64_t N, int64_t C, int64_t HW, bool nhwc) {
  std::vector<double> acc(C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const T* gn = g + n * C * HW;
    if (nhwc) {
      for (int64_t r = 0; r < HW; ++r)
        for (int64_t c = 0; c < C; ++c) acc[c] += gn[r * C + c];
    } else {
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t i = 0; i < HW; ++i) s += gn[c * HW + i];
        acc[c] += s;
      }
    }
  }
  for (int64_t c = 0; c < C; ++c) db[c] = T(acc[c]);
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
  if (dx) conv2d(grad, w, nullptr, g, nhwc, *dx);                    // the conv y -> x itself
  if (dw) conv2d_backward(x, grad, w, g, nhwc, nullptr, dw, nullptr);  // x plays the conv's dL/dout
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

struct Options {
  std::pair<int64_t, int64_t> stride, output_padding, dilation;
  PadSpec padding;
  bool nhwc;
};

Options options_from(pyb::handle stride, pyb::handle padding, pyb::handle output_padding, pyb::handle dilation,
                     pyb::handle layout, const char* op) {
  Options o;
  if (!PyUnicode_Check(layout.ptr()))
    type_error(op, "layout", "expected 'NCHW' or 'NHWC', got ", std::string(pyb::repr(layout)));
  o.nhwc = py::nhwc_from(layout.cast<std::string>(), op);
  o.stride = py::pair_from(stride, op, "stride");
  o.padding = py::padding_from(padding, op, "padding");
  o.output_padding = output_padding.is_none() ? std::make_pair(int64_t(-1), int64_t(-1))
                                              : py::pair_from(output_padding, op, "output_padding");
  if (!output_padding.is_none() && (o.output_padding.first < 0 || o.output_padding.second < 0))
    value_error(op, "output_padding", "must be >= 0, got (", o.output_padding.first, ", ",
                o.output_padding.second, ")");
  o.dilation = py::pair_from(dilation, op, "dilation");
  return o;
}

pyb::object forward_py(pyb::handle x_obj, pyb::handle w_obj, pyb::handle b_obj, pyb::handle stride,
                       pyb::handle padding, pyb::handle output_padding, pyb::handle dilation, pyb::handle layout,
                       pyb::handle allocator) {
  const char* op = "conv_transpose2d";
  auto x = py::arg(x_obj, op, "x");
  auto w = py::arg(w_obj, op, "w");
  auto b = py::optional_arg(b_obj, op, "bias");
  Options o = options_from(stride, padding, output_padding, dilation, layout, op);
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
  Options o = options_from(stride, padding, output_padding, dilation, layout, op);
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
