// matmul / dense on the tape (cpp/cpu/matmul.h): c = op(a) op(b) (+ bias). The
// backward needs a and b, which the closure holds; cpu::matmul_backward computes
// only the gradients asked for (nullptr = not needed).
#include "cpu/matmul.h"
#include "tape/ops.h"

namespace tc::tape {

VarPtr matmul(const VarPtr& a, const VarPtr& b, const VarPtr& bias, bool ta, bool tb) {
  const Tensor* pb = bias ? &bias->t() : nullptr;
  Shape cs = cpu::matmul_check(a->t(), b->t(), pb, ta, tb);
  VarPtr c = new_var(cs, a->t().dtype);
  cpu::matmul(a->t(), b->t(), pb, ta, tb, c->t());
  if (needs_record({&a, &b, &bias}))
    record("matmul", {a, b, bias}, c, [a, b, ta, tb](const Tensor& g, Tensor* const* gin) {
      cpu::matmul_backward(g, a->t(), b->t(), ta, tb, gin[0], gin[1], gin[2]);
    });
  return c;
}

}  // namespace tc::tape
