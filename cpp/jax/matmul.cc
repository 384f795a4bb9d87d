// matmul / dense under JAX: c = act(op(a) @ op(b) + bias) in one crossing (the
// activation, relu or tanh, runs in place on c right after the GEMM), and its backward.
// Rules: cpu::matmul_check; kernels: cpu::matmul, cpu::matmul_backward, cpu::relu/tanh.
#include "cpu/activations.h"
#include "cpu/matmul.h"
#include "core/storage.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

const Tensor* opt(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }

std::optional<Tensor> bias_of(ffi::RemainingArgs& rest, size_t i) {
  if (rest.size() <= i) return std::nullopt;
  auto b = rest.get<ffi::AnyBuffer>(i);
  if (!b.has_value()) throw ValueError("twincore.matmul: argument 'bias': not an array");
  return view(*b);
}

void apply_act(cpu::Act act, const Tensor& y) {
  if (act == cpu::Act::relu) cpu::relu(y, y);
  if (act == cpu::Act::tanh) cpu::tanh(y, y);
}

ffi::Error matmul_fwd(ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::RemainingArgs rest,
                      ffi::Result<ffi::AnyBuffer> c, int64_t trans_a, int64_t trans_b, int64_t act) {
  return guard([&] {
    Tensor ta = view(a), tb = view(b), tc_ = view(c);
    auto bias = bias_of(rest, 0);
    Shape cs = cpu::matmul_check(ta, tb, opt(bias), trans_a, trans_b, "matmul");
    check_shape("matmul", "<output>", tc_, cs);
    run({&ta, &tb, bias ? &*bias : nullptr}, {&tc_}, [&] {
      cpu::matmul(ta, tb, opt(bias), trans_a, trans_b, tc_);
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
      auto y = bias_of(rest, 0);
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
    std::vector<Tensor> r;
    for (size_t i = 0; i < outs.size(); ++i) {
      auto o = outs.get<ffi::AnyBuffer>(i);
      if (!o.has_value()) throw ValueError("twincore.matmul_backward: bad result buffer");
      r.push_back(view(*o));
    }
    if (r.size() < 2) throw ValueError("twincore.matmul_backward: expected 2 or 3 results");
    check_shape(op, "<da>", r[0], ta.shape);
    check_shape(op, "<db>", r[1], tb.shape);
    if (r.size() > 2) check_shape(op, "<dbias>", r[2], Shape{cs[cs.ndim - 1]});
    run({&g, &ta, &tb}, {&r[0], &r[1], r.size() > 2 ? &r[2] : nullptr},
        [&] { cpu::matmul_backward(g, ta, tb, trans_a, trans_b, &r[0], &r[1], r.size() > 2 ? &r[2] : nullptr); });
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
  std::optional<Abstract> bias;
  if (!bias_shape.is_none()) bias = abstract(bias_shape, bias_dtype, op, "bias");
  cpu::Act act = cpu::Act::none;
  if (!activation.is_none()) {
    if (!PyUnicode_Check(activation.ptr()))
      type_error(op, "activation", "expected None, 'relu' or 'tanh', got ", std::string(pyb::repr(activation)));
    act = cpu::act_from(activation.cast<std::string>(), op);
  }
  Shape cs = cpu::matmul_check(a.t, b.t, bias ? &bias->t : nullptr, trans_a, trans_b, op);
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
