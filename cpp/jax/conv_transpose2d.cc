// conv_transpose2d under JAX: y = conv_transpose(x, w) + bias, NCHW or NHWC, and its backward
// (dx, dw, dbias in one crossing). Rules: cpu::conv_transpose2d_check (geometry, output size,
// output_padding, channels, bias); kernels: cpu::conv_transpose2d, cpu::conv_transpose2d_backward.
//   NCHW: x [N, Cin, H, W], w [Cin, Cout, KH, KW] (torch's layout), y [N, Cout, OH, OW]
//   NHWC: x [N, H, W, Cin], w [KH, KW, Cout, Cin] (Keras's layout),  y [N, OH, OW, Cout]
#include "cpu/conv_transpose2d.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

struct Geo {
  std::pair<int64_t, int64_t> stride, output_padding, dilation;
  PadSpec pad;
  bool nhwc;
};

Geo geo_of(int64_t sh, int64_t sw, int64_t oph, int64_t opw, int64_t dh, int64_t dw, int64_t pad_mode,
           int64_t pad_h, int64_t pad_w, int64_t nhwc) {
  return Geo{{sh, sw}, {oph, opw}, {dh, dw}, pad_from(pad_mode, pad_h, pad_w), nhwc != 0};
}

Window2d check(const Geo& o, const Tensor& x, const Tensor& w, const Tensor* bias, Shape* ys, const char* op) {
  return cpu::conv_transpose2d_check(x, w, bias, o.stride, o.pad, o.output_padding, o.dilation, o.nhwc, ys, op);
}

ffi::Error fwd(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::RemainingArgs rest, ffi::Result<ffi::AnyBuffer> y,
               int64_t sh, int64_t sw, int64_t oph, int64_t opw, int64_t dh, int64_t dw, int64_t pad_mode,
               int64_t pad_h, int64_t pad_w, int64_t nhwc) {
  return guard([&] {
    const char* op = "conv_transpose2d";
    Geo o = geo_of(sh, sw, oph, opw, dh, dw, pad_mode, pad_h, pad_w, nhwc);
    Tensor tx = view(x), tw = view(w), ty = view(y);
    std::optional<Tensor> bias = Args(rest, op).next_if_any("bias");
    Shape ys;
    Window2d g = check(o, tx, tw, ptr(bias), &ys, op);
    check_shape(op, "<output>", ty, ys);
    run({&tx, &tw, ptr(bias)}, {&ty}, [&] { cpu::conv_transpose2d(tx, tw, ptr(bias), g, o.nhwc, ty); });
  });
}

// grad, x, w -> dx, dw (+ dbias when asked for).
ffi::Error bwd(ffi::AnyBuffer grad, ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> dx,
               ffi::Result<ffi::AnyBuffer> dw, ffi::RemainingRets more, int64_t sh, int64_t sw, int64_t oph,
               int64_t opw, int64_t dh, int64_t ddw, int64_t pad_mode, int64_t pad_h, int64_t pad_w, int64_t nhwc) {
  return guard([&] {
    const char* op = "conv_transpose2d_backward";
    Geo o = geo_of(sh, sw, oph, opw, dh, ddw, pad_mode, pad_h, pad_w, nhwc);
    Tensor tg = view(grad), tx = view(x), tw = view(w), tdx = view(dx), tdw = view(dw);
    Shape ys;
    Window2d g = check(o, tx, tw, nullptr, &ys, op);
    check_input_like(op, "grad", tg, tx);
    check_shape(op, "grad", tg, ys);
    check_shape(op, "<dx>", tdx, tx.shape);
    check_shape(op, "<dw>", tdw, tw.shape);
    std::optional<Tensor> db = Rets(more, op).next_if_any("<dbias>");
    if (db) check_shape(op, "<dbias>", *db, Shape{o.nhwc ? tw.size(2) : tw.size(1)});
    run({&tg, &tx, &tw}, {&tdx, &tdw, ptr(db)},
        [&] { cpu::conv_transpose2d_backward(tg, tx, tw, g, o.nhwc, &tdx, &tdw, ptr(db)); });
  });
}

#define TC_CONVT_ATTRS                                                                         \
  .Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("oph").Attr<int64_t>("opw")           \
      .Attr<int64_t>("dh").Attr<int64_t>("dw").Attr<int64_t>("pad_mode").Attr<int64_t>("pad_h") \
      .Attr<int64_t>("pad_w").Attr<int64_t>("nhwc")

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>() TC_CONVT_ATTRS);
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .RemainingRets() TC_CONVT_ATTRS);
TC_JAX_HANDLER("twincore_conv_transpose2d", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_conv_transpose2d_backward", "cpu", bwd_cpu);

// (x, w, bias or None, stride, padding, output_padding (None = not given), dilation, layout)
// -> out [y], the resolved geometry as attributes. The option rules (and their messages) are
// the binding's (py::conv_transpose2d_options).
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle w_shape, pyb::handle w_dtype,
               pyb::handle b_shape, pyb::handle b_dtype, pyb::handle stride, pyb::handle padding,
               pyb::handle output_padding, pyb::handle dilation, pyb::handle layout) {
  const char* op = "conv_transpose2d";
  Abstract x = abstract(x_shape, x_dtype, op, "x"), w = abstract(w_shape, w_dtype, op, "w");
  std::optional<Abstract> b = optional_abstract(b_shape, b_dtype, op, "bias");
  const py::ConvTransposeOptions opt = py::conv_transpose2d_options(stride, padding, output_padding, dilation, layout, op);
  Geo o{opt.stride, opt.output_padding, opt.dilation, opt.padding, opt.nhwc};
  Shape ys;
  check(o, x.t, w.t, ptr(b), &ys, op);
  Plan p;
  p.output(ys, x.t.dtype);
  p.attr("sh", o.stride.first);
  p.attr("sw", o.stride.second);
  p.attr("oph", o.output_padding.first);
  p.attr("opw", o.output_padding.second);
  p.attr("dh", o.dilation.first);
  p.attr("dw", o.dilation.second);
  pad_attrs(p, o.pad);
  p.attr("nhwc", o.nhwc);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_conv_transpose2d) { m.def("jax_conv_transpose2d_plan", &tc::jax::plan); }
