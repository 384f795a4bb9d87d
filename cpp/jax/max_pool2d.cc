// max_pool2d under JAX. Rules: cpu::max_pool2d_check / max_pool2d_out_shape /
// max_pool2d_backward_check; kernels: cpu::max_pool2d, cpu::max_pool2d_backward.
// The argmax indices are int64 in the core; JAX without x64 has no int64 arrays, so the
// handlers exchange them as int32 pairs [..., 2] (the same 8 bytes, viewed as int64 here).
#include "cpu/max_pool2d.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

// An int32 [..., 2] buffer seen as the int64 [...] it holds.
Tensor as_i64(Tensor t, const char* op, const char* arg) {
  if (t.dtype != DType::i32 || t.ndim() < 1 || t.size(-1) != 2)
    value_error(op, arg, "expected int32 pairs [..., 2] holding int64 indices, got ", dtype_name(t.dtype), " ",
                t.shape.str());
  t.dtype = DType::i64;
  t.shape.ndim -= 1;
  t.set_contiguous_strides();
  return t;
}

ffi::Error fwd(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y, ffi::Result<ffi::AnyBuffer> idx, int64_t kh,
               int64_t kw, int64_t sh, int64_t sw, int64_t pad_mode, int64_t pad_h, int64_t pad_w,
               int64_t nhwc) {
  return guard([&] {
    const char* op = "max_pool2d";
    Tensor tx = view(x), ty = view(y), ti = as_i64(view(idx), op, "<indices>");
    Window2d g = cpu::max_pool2d_check(tx, kh, kw, sh, sw, pad_from(pad_mode, pad_h, pad_w), nhwc);
    Shape ys = cpu::max_pool2d_out_shape(tx, g, nhwc);
    check_shape(op, "<output>", ty, ys);
    check_shape(op, "<indices>", ti, ys);
    run({&tx}, {&ty, &ti}, [&] { cpu::max_pool2d(tx, g, nhwc, ty, &ti); });
  });
}

ffi::Error bwd(ffi::AnyBuffer grad, ffi::AnyBuffer idx, ffi::Result<ffi::AnyBuffer> dx, int64_t nhwc) {
  return guard([&] {
    const char* op = "max_pool2d_backward";
    Tensor tg = view(grad), ti = as_i64(view(idx), op, "indices"), tdx = view(dx);
    Window2d g = cpu::max_pool2d_backward_check(tg, ti, tdx.shape, nhwc);
    run({&tg, &ti}, {&tdx}, [&] { cpu::max_pool2d_backward(tg, ti, g, nhwc, tdx); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("kh")
                           .Attr<int64_t>("kw")
                           .Attr<int64_t>("sh")
                           .Attr<int64_t>("sw")
                           .Attr<int64_t>("pad_mode")
                           .Attr<int64_t>("pad_h")
                           .Attr<int64_t>("pad_w")
                           .Attr<int64_t>("nhwc"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("nhwc"));
TC_JAX_HANDLER("twincore_max_pool2d", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_max_pool2d_backward", "cpu", bwd_cpu);

// (x, kernel_size, stride (None = kernel), padding, layout) -> out [y, indices as int32 pairs].
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle kernel, pyb::handle stride,
               pyb::handle padding, const std::string& layout) {
  const char* op = "max_pool2d";
  Abstract x = abstract(x_shape, x_dtype, op, "x");
  const bool nhwc = py::nhwc_from(layout, op);
  auto k = py::pair_from(kernel, op, "kernel_size");
  auto s = stride.is_none() ? k : py::pair_from(stride, op, "stride");
  PadSpec pad = py::padding_from(padding, op, "padding");
  Window2d g = cpu::max_pool2d_check(x.t, k.first, k.second, s.first, s.second, pad, nhwc);
  Shape ys = cpu::max_pool2d_out_shape(x.t, g, nhwc);
  Shape is = ys;
  is[is.ndim++] = 2;
  Plan p;
  p.output(ys, x.t.dtype);
  p.output(is, DType::i32);
  p.attr("kh", k.first);
  p.attr("kw", k.second);
  p.attr("sh", s.first);
  p.attr("sw", s.second);
  pad_attrs(p, pad);
  p.attr("nhwc", nhwc);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_max_pool2d) { m.def("jax_max_pool2d_plan", &tc::jax::plan); }
