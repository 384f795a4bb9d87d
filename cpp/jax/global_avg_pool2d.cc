// global_avg_pool2d under JAX. Rules: cpu::global_avg_pool2d_check / _backward_check;
// kernels: cpu::global_avg_pool2d, cpu::global_avg_pool2d_backward.
#include "cpu/global_avg_pool2d.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y, int64_t nhwc) {
  return guard([&] {
    Tensor tx = view(x), ty = view(y);
    check_shape("global_avg_pool2d", "<output>", ty, cpu::global_avg_pool2d_check(tx, nhwc));
    run({&tx}, {&ty}, [&] { cpu::global_avg_pool2d(tx, nhwc, ty); });
  });
}

ffi::Error bwd(ffi::AnyBuffer grad, ffi::Result<ffi::AnyBuffer> dx, int64_t nhwc) {
  return guard([&] {
    Tensor tg = view(grad), tdx = view(dx);
    cpu::global_avg_pool2d_backward_check(tg, tdx.shape, nhwc);
    run({&tg}, {&tdx}, [&] { cpu::global_avg_pool2d_backward(tg, nhwc, tdx); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().Ret<ffi::AnyBuffer>().Attr<int64_t>("nhwc"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().Ret<ffi::AnyBuffer>().Attr<int64_t>("nhwc"));
TC_JAX_HANDLER("twincore_global_avg_pool2d", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_global_avg_pool2d_backward", "cpu", bwd_cpu);

pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, const std::string& layout) {
  const char* op = "global_avg_pool2d";
  Abstract x = abstract(x_shape, x_dtype, op, "x");
  const bool nhwc = py::nhwc_from(layout, op);
  Plan p;
  p.output(cpu::global_avg_pool2d_check(x.t, nhwc), x.t.dtype);
  p.attr("nhwc", nhwc);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_global_avg_pool2d) { m.def("jax_global_avg_pool2d_plan", &tc::jax::plan); }
