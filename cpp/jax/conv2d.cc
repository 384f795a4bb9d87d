// conv2d under JAX: y = act(conv(x, w) + bias), NCHW or NHWC, and its backward.
// Rules: cpu::conv2d_check (geometry, channel match, bias); kernels: cpu::conv2d,
// cpu::conv2d_backward (the activation fused in both, as the pybind binding runs them).
#include "cpu/conv2d.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

struct Geo {
  std::pair<int64_t, int64_t> stride, dilation;
  PadSpec pad;
  bool nhwc;
};

Geo geo_of(int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pad_mode, int64_t pad_h,
           int64_t pad_w, int64_t nhwc) {
  return Geo{{sh, sw}, {dh, dw}, pad_from(pad_mode, pad_h, pad_w), nhwc != 0};
}

ffi::Error conv2d_fwd(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::RemainingArgs rest,
                      ffi::Result<ffi::AnyBuffer> y, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      int64_t pad_mode, int64_t pad_h, int64_t pad_w, int64_t nhwc, int64_t act) {
  return guard([&] {
    const char* op = "conv2d";
    Geo o = geo_of(sh, sw, dh, dw, pad_mode, pad_h, pad_w, nhwc);
    Tensor tx = view(x), tw = view(w), ty = view(y);
    std::optional<Tensor> bias = Args(rest, op).next_if_any("bias");
    Shape ys;
    Window2d g = cpu::conv2d_check(tx, tw, ptr(bias), o.stride, o.pad, o.dilation, o.nhwc, &ys, op);
    check_shape(op, "<output>", ty, ys);
    run({}, {},  // halves: cpu::conv2d takes them itself (cpu/conv2d_half.h)
        [&] { cpu::conv2d(tx, tw, ptr(bias), g, o.nhwc, ty, static_cast<cpu::Act>(act)); });
  });
}

// grad, x, w (+ y when act != none) -> dx, dw (+ dbias when has_bias).
ffi::Error conv2d_bwd(ffi::AnyBuffer grad, ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::RemainingArgs rest,
                      ffi::Result<ffi::AnyBuffer> dx, ffi::Result<ffi::AnyBuffer> dw,
                      ffi::RemainingRets more, int64_t sh, int64_t sw, int64_t dh, int64_t ddw,
                      int64_t pad_mode, int64_t pad_h, int64_t pad_w, int64_t nhwc, int64_t act) {
  return guard([&] {
    const char* op = "conv2d_backward";
    Geo o = geo_of(sh, sw, dh, ddw, pad_mode, pad_h, pad_w, nhwc);
    Tensor tg = view(grad), tx = view(x), tw = view(w), tdx = view(dx), tdw = view(dw);
    Shape ys;
    Window2d g = cpu::conv2d_check(tx, tw, nullptr, o.stride, o.pad, o.dilation, o.nhwc, &ys, op);
    check_input_like(op, "grad", tg, tx);
    check_shape(op, "grad", tg, ys);
    const auto fused = static_cast<cpu::Act>(act);
    std::optional<Tensor> y = Args(rest, op).next_if_any("y");
    if (fused != cpu::Act::none && !y)
      value_error(op, "y", "the forward's output is needed to take grad through the activation");
    if (y) {
      check_input_like(op, "y", *y, tx);
      check_shape(op, "y", *y, ys);
    }
    check_shape(op, "<dx>", tdx, tx.shape);
    check_shape(op, "<dw>", tdw, tw.shape);
    std::optional<Tensor> db = Rets(more, op).next_if_any("<dbias>");
    if (db) check_shape(op, "<dbias>", *db, Shape{o.nhwc ? tw.size(3) : tw.size(0)});
    run({}, {},  // halves: cpu::conv2d_backward (cpu/conv2d_half.h)
        [&] { cpu::conv2d_backward(tg, tx, tw, g, o.nhwc, &tdx, &tdw, ptr(db), ptr(y), fused); });
  });
}

// The geometry and activation attributes both handlers take (rvalue builder chain).
#define TC_CONV_ATTRS                                                                         \
  .Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("dh").Attr<int64_t>("dw")            \
      .Attr<int64_t>("pad_mode").Attr<int64_t>("pad_h").Attr<int64_t>("pad_w")                 \
      .Attr<int64_t>("nhwc").Attr<int64_t>("act")

XLA_FFI_DEFINE_HANDLER(conv2d_fwd_cpu, conv2d_fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>() TC_CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER(conv2d_bwd_cpu, conv2d_bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .RemainingRets() TC_CONV_ATTRS);
TC_JAX_HANDLER("twincore_conv2d", "cpu", conv2d_fwd_cpu);
TC_JAX_HANDLER("twincore_conv2d_backward", "cpu", conv2d_bwd_cpu);

// (x, w, bias or None, stride, padding, dilation, layout, activation) -> out [y], the
// resolved geometry and activation as attributes.
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle w_shape, pyb::handle w_dtype,
               pyb::handle b_shape, pyb::handle b_dtype, pyb::handle stride, pyb::handle padding,
               pyb::handle dilation, pyb::handle layout, pyb::handle activation) {
  const char* op = "conv2d";
  Abstract x = abstract(x_shape, x_dtype, op, "x"), w = abstract(w_shape, w_dtype, op, "w");
  std::optional<Abstract> b = optional_abstract(b_shape, b_dtype, op, "bias");
  const bool nhwc = py::nhwc_from(layout, op);
  auto s = py::pair_from(stride, op, "stride");
  PadSpec pad = py::padding_from(padding, op, "padding");
  auto d = py::pair_from(dilation, op, "dilation");
  const cpu::Act act = py::act_from(activation, op);
  Shape ys;
  cpu::conv2d_check(x.t, w.t, ptr(b), s, pad, d, nhwc, &ys, op);
  Plan p;
  p.output(ys, x.t.dtype);
  p.attr("sh", s.first);
  p.attr("sw", s.second);
  p.attr("dh", d.first);
  p.attr("dw", d.second);
  pad_attrs(p, pad);
  p.attr("nhwc", nhwc);
  p.attr("act", int64_t(act));
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_conv2d) { m.def("jax_conv2d_plan", &tc::jax::plan); }
