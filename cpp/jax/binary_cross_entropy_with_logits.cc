// Fused binary cross-entropy from logits under JAX: loss and d loss / d logits in one pass
// (the backward only scales the saved dlogits by the upstream gradient, in JAX, as for
// softmax_cross_entropy). Rules: cpu::binary_cross_entropy_with_logits_check (shapes,
// dtypes, pos_weight, label_smoothing in [0, 1], reduction); kernel:
// cpu::binary_cross_entropy_with_logits.
#include "cpu/binary_cross_entropy_with_logits.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

// logits, targets (+ pos_weight) -> loss, dlogits.
ffi::Error fwd(ffi::AnyBuffer logits, ffi::AnyBuffer targets, ffi::RemainingArgs rest,
               ffi::Result<ffi::AnyBuffer> loss, ffi::Result<ffi::AnyBuffer> dlogits, double label_smoothing,
               int64_t reduction) {
  return guard([&] {
    const char* op = "binary_cross_entropy_with_logits";
    Tensor tl = view(logits), tt = view(targets), tloss = view(loss), td = view(dlogits);
    std::optional<Tensor> pw = Args(rest, op).next_if_any("pos_weight");
    Shape ls = cpu::binary_cross_entropy_with_logits_check(tl, tt, ptr(pw), label_smoothing, int(reduction));
    check_shape(op, "<loss>", tloss, ls);
    check_shape(op, "<dlogits>", td, tl.shape);
    run({&tl, &tt, ptr(pw)}, {&tloss, &td},
        [&] { cpu::binary_cross_entropy_with_logits(tl, tt, ptr(pw), label_smoothing, int(reduction), tloss, &td); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<double>("label_smoothing")
                           .Attr<int64_t>("reduction"));
TC_JAX_HANDLER("twincore_binary_cross_entropy_with_logits", "cpu", fwd_cpu);

// (logits, targets, pos_weight or None, label_smoothing, reduction) -> out [loss, dlogits].
// label_smoothing's type rule is the binding's (a float, else TypeError).
pyb::dict plan(pyb::handle l_shape, pyb::handle l_dtype, pyb::handle t_shape, pyb::handle t_dtype,
               pyb::handle pw_shape, pyb::handle pw_dtype, pyb::handle smoothing, const std::string& reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  Abstract logits = abstract(l_shape, l_dtype, op, "logits"), targets = abstract(t_shape, t_dtype, op, "targets");
  std::optional<Abstract> pw = optional_abstract(pw_shape, pw_dtype, op, "pos_weight");
  const double s = py::float_from(smoothing, op, "label_smoothing");
  int red = reduction_code(op, reduction);
  Shape ls = cpu::binary_cross_entropy_with_logits_check(logits.t, targets.t, ptr(pw), s, red);
  Plan p;
  p.output(ls, logits.t.dtype);
  p.output(logits.t.shape, logits.t.dtype);
  p.attr_f("label_smoothing", s);
  p.attr("reduction", red);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_binary_cross_entropy_with_logits) {
  m.def("jax_binary_cross_entropy_with_logits_plan", &tc::jax::plan);
}
