// mse under JAX. Rules: cpu::mse_check / cpu::mse_backward_check; kernels: cpu::mse,
// cpu::mse_backward (the upstream gradient enters the kernel, as in the bindings).
#include "cpu/mse.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer pred, ffi::AnyBuffer target, ffi::Result<ffi::AnyBuffer> loss, int64_t reduction) {
  return guard([&] {
    Tensor tp = view(pred), tt = view(target), tl = view(loss);
    check_shape("mse", "<output>", tl, cpu::mse_check(tp, tt, int(reduction)));
    run({&tp, &tt}, {&tl}, [&] { cpu::mse(tp, tt, int(reduction), tl); });
  });
}

ffi::Error bwd(ffi::AnyBuffer pred, ffi::AnyBuffer target, ffi::AnyBuffer grad, ffi::Result<ffi::AnyBuffer> dpred,
               int64_t reduction) {
  return guard([&] {
    Tensor tp = view(pred), tt = view(target), tg = view(grad), td = view(dpred);
    cpu::mse_backward_check(tp, tt, &tg, int(reduction));
    check_shape("mse_backward", "<output>", td, tp.shape);
    run({&tp, &tt, &tg}, {&td}, [&] { cpu::mse_backward(tp, tt, &tg, int(reduction), td); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("reduction"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("reduction"));
TC_JAX_HANDLER("twincore_mse", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_mse_backward", "cpu", bwd_cpu);

pyb::dict plan(pyb::handle p_shape, pyb::handle p_dtype, pyb::handle t_shape, pyb::handle t_dtype,
               const std::string& reduction) {
  const char* op = "mse";
  Abstract pred = abstract(p_shape, p_dtype, op, "pred"), target = abstract(t_shape, t_dtype, op, "target");
  int red = reduction_code(op, reduction);
  Plan p;
  p.output(cpu::mse_check(pred.t, target.t, red), pred.t.dtype);
  p.attr("reduction", red);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_mse) { m.def("jax_mse_plan", &tc::jax::plan); }
