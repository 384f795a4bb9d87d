// relu, tanh and softmax on the tape (cpp/cpu/activations.h, softmax.h). Each
// backward needs only the op's output y, which the closure holds
// (relu: dx = g * (y > 0); tanh: dx = g * (1 - y^2); softmax: dx = y * (g - sum(g * y))).
#include "cpu/activations.h"
#include "cpu/softmax.h"
#include "tape/ops.h"
#include "tape/sequence_ops.h"

namespace tc::tape {
namespace {

using Fwd = void (*)(const Tensor&, const Tensor&);
using Bwd = void (*)(const Tensor&, const Tensor&, const Tensor&);

VarPtr unary(const char* op, Fwd fwd, Bwd bwd, const VarPtr& x) {
  check_input(op, "x", x->t());
  VarPtr y = new_var_like(x->t());
  fwd(x->t(), y->t());
  if (needs_record({&x}))
    record(op, {x}, y, [y = y.get(), bwd](const Tensor& g, Tensor* const* gin) {
      // y is the node's own output, which the node keeps alive.
      bwd(g, y->t(), *gin[0]);
    });
  return y;
}

}  // namespace

VarPtr relu(const VarPtr& x) { return unary("relu", cpu::relu, cpu::relu_backward, x); }
VarPtr tanh(const VarPtr& x) { return unary("tanh", cpu::tanh, cpu::tanh_backward, x); }
VarPtr sigmoid(const VarPtr& x) { return unary("sigmoid", cpu::sigmoid, cpu::sigmoid_backward, x); }

VarPtr softmax(const VarPtr& x) {  // over the last axis; the backward needs y only
  check_input("softmax", "x", x->t());
  check_rank("softmax", "x", x->t(), 1, kMaxDims);
  return unary("softmax", cpu::softmax, cpu::softmax_backward, x);
}

}  // namespace tc::tape

// leaky_relu: its backward reads the input x (held by the closure), not y.
namespace tc::tape {

VarPtr leaky_relu(const VarPtr& x, double slope) {
  check_input("leaky_relu", "x", x->t());
  VarPtr y = new_var_like(x->t());
  cpu::leaky_relu(x->t(), slope, y->t());
  if (needs_record({&x}))
    record("leaky_relu", {x}, y, [x, slope](const Tensor& g, Tensor* const* gin) {
      cpu::leaky_relu_backward(g, x->t(), slope, *gin[0]);
    });
  return y;
}

}  // namespace tc::tape
