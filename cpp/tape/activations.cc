// relu, tanh and softmax on the tape. Each backward needs only the op's output
// y, which the closure holds (relu: dx = g * (y > 0); tanh: dx = g * (1 - y^2)).
#include <cmath>

#include "core/dispatch.h"
#include "cpu/activations.h"
#include "tape/ops.h"

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

// Interim softmax over the last axis, until cpu/softmax.h lands: max-shifted
// exponentials (stable for any finite logits); dx = y * (g - sum(g * y)).
VarPtr softmax(const VarPtr& x) {
  const char* op = "softmax";
  const Tensor& tx = x->t();
  check_input(op, "x", tx);
  check_rank(op, "x", tx, 1, kMaxDims);
  VarPtr y = new_var_like(tx);
  const int64_t C = tx.size(-1), rows = tx.numel() / C;
  TC_FLOAT_TYPES(op, tx.dtype, T, {
    const T* px = tx.ptr<T>();
    T* py = y->t().ptr<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = px + r * C;
      T* yr = py + r * C;
      T m = xr[0];
      for (int64_t j = 1; j < C; ++j) m = xr[j] > m ? xr[j] : m;
      T s = 0;
      for (int64_t j = 0; j < C; ++j) s += (yr[j] = std::exp(xr[j] - m));
      for (int64_t j = 0; j < C; ++j) yr[j] /= s;
      if (m != m) for (int64_t j = 0; j < C; ++j) yr[j] = m;  // NaN in -> NaN out
    }
  });
  if (needs_record({&x}))
    record(op, {x}, y, [y = y.get(), C, rows](const Tensor& g, Tensor* const* gin) {
      TC_FLOAT_TYPES("gradient", g.dtype, T, {
        const T *pg = g.ptr<T>(), *py = y->t().ptr<T>();
        T* dx = gin[0]->ptr<T>();
        for (int64_t r = 0; r < rows; ++r) {
          T dot = 0;
          for (int64_t j = 0; j < C; ++j) dot += pg[r * C + j] * py[r * C + j];
          for (int64_t j = 0; j < C; ++j) dx[r * C + j] = py[r * C + j] * (pg[r * C + j] - dot);
        }
      });
    });
  return y;
}

}  // namespace tc::tape
