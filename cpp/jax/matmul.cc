// matmul / dense under JAX: c = act(op(a) @ op(b) + bias) in one crossing (the
// activation, relu or tanh, runs in place on c right after the GEMM), and its backward.
// Rules: cpu::matmul_check; kernels: cpu::matmul, cpu::matmul_backward, cpu::relu/tanh.
#include "cpu/activations.h"
#include "cpu/matmul.h"
#include "core/storage.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

void apply_act(cpu::Act act, const Tensor& y) {
  if (act == cpu::Act::relu) cpu::relu(y, y);
  if (act == cpu::Act::tanh) cpu::tanh(y, y);
}

ffi::Error matmul_fwd(ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::RemainingArgs rest,
                      ffi::Result<ffi::AnyBuffer> c, int64_t trans_a, int64_t trans_b, int64_t act) {
  return guard([&] {
    const char* op = "matmul";
    Tensor ta = view(a), tb = view(b), tc_ = view(c);
    std::optional<Tensor> bias = Args(rest, op).next_if_any("bias");
    Shape cs = cpu::matmul_check(ta, tb, ptr(bias), trans_a, trans_b, op);
    check_shape(op, "<output>", tc_, cs);
    run({&ta, &tb, ptr(bias)}, {&tc_}, [&] {
      cpu::matmul(ta, tb, ptr(bias), trans_a, trans_b, tc_);
      apply_act(static_cast<cpu::Act>(act), tc_);
    });
  });
}

// grad, a, b (+ y, the forward's output, when act != none) -> da, db (+ dbias when has_bias).
ffi::Error matmul_bwd(ffi::AnyBuffer grad, ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::RemainingArgs rest,
                      ffi::RemainingRets outs, int64_t trans_a, int64_t trans_b, int64_t act) {
  return guard([&] {
    const char* op = "matmul_backward";
    Tensor g = view(grad), ta = view(a), tb = view(b);
    check_input(op, "grad", g);
    Shape cs = cpu::matmul_check(ta, tb, nullptr, trans_a, trans_b, op);
    check_input_like(op, "grad", g, ta);
    check_shape(op, "grad", g, cs);
    const auto fused = static_cast<cpu::Act>(act);
    OwnedTensor gact;  // grad taken through the activation
    if (fused != cpu::Act::none) {
      std::optional<Tensor> y = Args(rest, op).next_if_any("y");
      if (!y) value_error(op, "y", "the forward's output is needed to take grad through the activation");
      check_input_like(op, "y", *y, ta);
      check_shape(op, "y", *y, cs);
      gact = OwnedTensor(cs, g.dtype, false);
      run({&g, &*y}, {&gact.view}, [&] {
        if (fused == cpu::Act::relu) cpu::relu_backward(g, *y, gact.view);
        else cpu::tanh_backward(g, *y, gact.view);
      });
      g = gact.view;
    }
    Rets rets(outs, op);
    Tensor da = rets.next("<da>"), db = rets.next("<db>");
    std::optional<Tensor> dbias = rets.next_if_any("<dbias>");
    check_shape(op, "<da>", da, ta.shape);
    check_shape(op, "<db>", db, tb.shape);
    if (dbias) check_shape(op, "<dbias>", *dbias, Shape{cs[cs.ndim - 1]});
    run({&g, &ta, &tb}, {&da, &db, ptr(dbias)},
        [&] { cpu::matmul_backward(g, ta, tb, trans_a, trans_b, &da, &db, ptr(dbias)); });
  });
}

XLA_FFI_DEFINE_HANDLER(matmul_fwd_cpu, matmul_fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("trans_a")
                           .Attr<int64_t>("trans_b")
                           .Attr<int64_t>("act"));
XLA_FFI_DEFINE_HANDLER(matmul_bwd_cpu, matmul_bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .RemainingRets()
                           .Attr<int64_t>("trans_a")
                           .Attr<int64_t>("trans_b")
                           .Attr<int64_t>("act"));
TC_JAX_HANDLER("twincore_matmul", "cpu", matmul_fwd_cpu);
TC_JAX_HANDLER("twincore_matmul_backward", "cpu", matmul_bwd_cpu);

// (a, b, bias or None, trans_a, trans_b, activation): out [c], attrs trans_a, trans_b, act.
pyb::dict plan(pyb::handle a_shape, pyb::handle a_dtype, pyb::handle b_shape, pyb::handle b_dtype,
               pyb::handle bias_shape, pyb::handle bias_dtype, bool trans_a, bool trans_b,
               pyb::handle activation) {
  const char* op = "matmul";
  Abstract a = abstract(a_shape, a_dtype, op, "a"), b = abstract(b_shape, b_dtype, op, "b");
  std::optional<Abstract> bias = optional_abstract(bias_shape, bias_dtype, op, "bias");
  const cpu::Act act = py::act_from(activation, op);
  Shape cs = cpu::matmul_check(a.t, b.t, ptr(bias), trans_a, trans_b, op);
  Plan p;
  p.output(cs, a.t.dtype);
  p.attr("trans_a", trans_a);
  p.attr("trans_b", trans_b);
  p.attr("act", int64_t(act));
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_matmul) { m.def("jax_matmul_plan", &tc::jax::plan); }
