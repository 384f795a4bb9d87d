// Fused softmax cross-entropy under JAX: loss and dlogits in one pass (the backward only
// scales dlogits by the upstream gradient, in JAX, as the torch frontend does).
// Rules: cpu::softmax_cross_entropy_check (label ranges are checked on the real labels
// when the handler runs); kernel: cpu::softmax_cross_entropy.
#include "cpu/softmax_cross_entropy.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer logits, ffi::AnyBuffer labels, ffi::Result<ffi::AnyBuffer> loss,
               ffi::Result<ffi::AnyBuffer> dlogits, double label_smoothing, int64_t reduction) {
  return guard([&] {
    const char* op = "softmax_cross_entropy";
    Tensor tl = view(logits), ty = view(labels), tloss = view(loss), td = view(dlogits);
    Shape ls = cpu::softmax_cross_entropy_check(tl, ty, label_smoothing, int(reduction));
    check_shape(op, "<loss>", tloss, ls);
    check_shape(op, "<dlogits>", td, tl.shape);
    run({&tl, &ty}, {&tloss, &td}, [&] { cpu::softmax_cross_entropy(tl, ty, label_smoothing, int(reduction), tloss, &td); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<double>("label_smoothing")
                           .Attr<int64_t>("reduction"));
TC_JAX_HANDLER("twincore_softmax_cross_entropy", "cpu", fwd_cpu);

// (logits, labels, label_smoothing, reduction) -> out [loss, dlogits].
pyb::dict plan(pyb::handle l_shape, pyb::handle l_dtype, pyb::handle y_shape, pyb::handle y_dtype,
               double label_smoothing, const std::string& reduction) {
  const char* op = "softmax_cross_entropy";
  Abstract logits = abstract(l_shape, l_dtype, op, "logits");
  Abstract labels = abstract(y_shape, y_dtype, op, "labels", /*zero_backed=*/true);
  int red = reduction_code(op, reduction);
  Shape ls = cpu::softmax_cross_entropy_check(logits.t, labels.t, label_smoothing, red);
  Plan p;
  p.output(ls, logits.t.dtype);
  p.output(logits.t.shape, logits.t.dtype);
  p.attr_f("label_smoothing", label_smoothing);
  p.attr("reduction", red);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_softmax_cross_entropy) { m.def("jax_softmax_cross_entropy_plan", &tc::jax::plan); }
