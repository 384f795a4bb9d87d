// batch_norm on the tape (cpp/cpu/batch_norm.h), training mode. The backward needs x, gamma and
// the batch statistics, which the closure holds.
#include "cpu/batch_norm.h"
#include "tape/image_ops.h"

namespace tc::tape {

BatchNormOut batch_norm(const VarPtr& x, const VarPtr& gamma, const VarPtr& beta, double eps, bool nhwc) {
  const int64_t C = cpu::batch_norm_check(x->t(), nhwc, gamma ? &gamma->t() : nullptr,
                                          beta ? &beta->t() : nullptr, nullptr, nullptr, eps, "batch_norm");
  BatchNormOut out{new_var_like(x->t()), new_var(Shape{C}, x->t().dtype), new_var(Shape{C}, x->t().dtype)};
  cpu::batch_norm(x->t(), nhwc, gamma ? &gamma->t() : nullptr, beta ? &beta->t() : nullptr, eps, out.y->t(),
                  out.mean->t(), out.var->t());
  if (needs_record({&x, &gamma, &beta}))
    record("batch_norm", {x, gamma, beta}, out.y,
           [x, gamma, m = out.mean, v = out.var, eps, nhwc](const Tensor& g, Tensor* const* gin) {
             cpu::batch_norm_backward(g, x->t(), nhwc, gamma ? &gamma->t() : nullptr, m->t(), v->t(), eps, gin[0],
                                      gin[1], gin[2]);
           });
  return out;
}

}  // namespace tc::tape
