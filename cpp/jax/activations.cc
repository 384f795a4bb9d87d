// relu, tanh, softmax and sigmoid under JAX (elementwise / per last-axis row, any rank).
// Checks: the bindings' own (check_input; softmax also rank >= 1); kernels: cpu::relu,
// cpu::tanh, cpu::softmax, cpu::sigmoid and their backward kernels (which read the
// forward's output y). leaky_relu has its own file (its backward reads x, and it has a slope).
#include "cpu/activations.h"
#include "cpu/softmax.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

using Fwd = void (*)(const Tensor&, const Tensor&);
using Bwd = void (*)(const Tensor&, const Tensor&, const Tensor&);

enum Kind : int64_t { kRelu = 0, kTanh = 1, kSoftmax = 2, kSigmoid = 3, kCount = 4 };
const char* kNames[] = {"relu", "tanh", "softmax", "sigmoid"};
const char* kBwdNames[] = {"relu_backward", "tanh_backward", "softmax_backward", "sigmoid_backward"};
const Fwd kFwd[] = {cpu::relu, cpu::tanh, cpu::softmax, cpu::sigmoid};
const Bwd kBwd[] = {cpu::relu_backward, cpu::tanh_backward, cpu::softmax_backward, cpu::sigmoid_backward};

void check_x(int64_t kind, const char* op, const char* arg, const Tensor& t) {
  check_input(op, arg, t);
  if (kind == kSoftmax) check_rank(op, arg, t, 1, kMaxDims);
}

ffi::Error fwd(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y, int64_t kind) {
  return guard([&] {
    if (kind < 0 || kind >= kCount) throw ValueError("twincore: unknown activation kind");
    Tensor tx = view(x), ty = view(y);
    check_x(kind, kNames[kind], "x", tx);
    check_shape(kNames[kind], "<output>", ty, tx.shape);
    run({&tx}, {&ty}, [&] { kFwd[kind](tx, ty); });
  });
}

ffi::Error bwd(ffi::AnyBuffer dy, ffi::AnyBuffer y, ffi::Result<ffi::AnyBuffer> dx, int64_t kind) {
  return guard([&] {
    if (kind < 0 || kind >= kCount) throw ValueError("twincore: unknown activation kind");
    const char* op = kBwdNames[kind];
    Tensor tdy = view(dy), ty = view(y), tdx = view(dx);
    check_x(kind, op, "grad", tdy);
    check_input_like(op, "y", ty, tdy);
    check_shape(op, "y", ty, tdy.shape);
    run({&tdy, &ty}, {&tdx}, [&] { kBwd[kind](tdy, ty, tdx); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().Ret<ffi::AnyBuffer>().Attr<int64_t>("kind"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("kind"));
TC_JAX_HANDLER("twincore_activation", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_activation_backward", "cpu", bwd_cpu);

// (name, x) -> out [y like x], attrs {kind}.
pyb::dict plan(const std::string& name, pyb::handle x_shape, pyb::handle x_dtype) {
  int64_t kind = choose("activation", "name", name, {"relu", "tanh", "softmax", "sigmoid"});
  Abstract x = abstract(x_shape, x_dtype, kNames[kind], "x");
  check_x(kind, kNames[kind], "x", x.t);
  Plan p;
  p.output(x.t.shape, x.t.dtype);
  p.attr("kind", kind);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_activations) { m.def("jax_activation_plan", &tc::jax::plan); }
