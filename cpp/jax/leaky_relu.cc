// leaky_relu under JAX: y = x > 0 ? x : slope * x, elementwise, any rank; its backward reads
// the input x (dx = dy * (x > 0 ? 1 : slope)). Checks: the binding's (check_input, a finite
// slope); kernels: cpu::leaky_relu, cpu::leaky_relu_backward.
#include <cmath>

#include "cpu/activations.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y, double slope) {
  return guard([&] {
    const char* op = "leaky_relu";
    Tensor tx = view(x), ty = view(y);
    check_input(op, "x", tx);
    check_shape(op, "<output>", ty, tx.shape);
    run({&tx}, {&ty}, [&] { cpu::leaky_relu(tx, slope, ty); });
  });
}

ffi::Error bwd(ffi::AnyBuffer dy, ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> dx, double slope) {
  return guard([&] {
    const char* op = "leaky_relu_backward";
    Tensor tdy = view(dy), tx = view(x), tdx = view(dx);
    check_input(op, "grad", tdy);
    check_input_like(op, "x", tx, tdy);
    check_shape(op, "x", tx, tdy.shape);
    check_shape(op, "<dx>", tdx, tdy.shape);
    run({&tdy, &tx}, {&tdx}, [&] { cpu::leaky_relu_backward(tdy, tx, slope, tdx); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().Ret<ffi::AnyBuffer>().Attr<double>("slope"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<double>("slope"));
TC_JAX_HANDLER("twincore_leaky_relu", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_leaky_relu_backward", "cpu", bwd_cpu);

// (x, negative_slope) -> out [y like x], attrs {slope}. The slope's rule is the binding's
// (py::float_from, cpu::leaky_relu_slope).
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle slope) {
  const char* op = "leaky_relu";
  Abstract x = abstract(x_shape, x_dtype, op, "x");
  check_input(op, "x", x.t);
  const double s = cpu::leaky_relu_slope(py::float_from(slope, op, "negative_slope"), op);
  Plan p;
  p.output(x.t.shape, x.t.dtype);
  p.attr_f("slope", s);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_leaky_relu) { m.def("jax_leaky_relu_plan", &tc::jax::plan); }
