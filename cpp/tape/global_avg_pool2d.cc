// global_avg_pool2d on the tape (cpp/cpu/global_avg_pool2d.h): the backward needs only the
// input's shape.
#include "cpu/global_avg_pool2d.h"
#include "tape/image_ops.h"

namespace tc::tape {

VarPtr global_avg_pool2d(const VarPtr& x, bool nhwc) {
  Shape ys = cpu::global_avg_pool2d_check(x->t(), nhwc);
  VarPtr y = new_var(ys, x->t().dtype);
  cpu::global_avg_pool2d(x->t(), nhwc, y->t());
  if (needs_record({&x}))
    record("global_avg_pool2d", {x}, y, [nhwc](const Tensor& gout, Tensor* const* gin) {
      cpu::global_avg_pool2d_backward(gout, nhwc, *gin[0]);
    });
  return y;
}

}  // namespace tc::tape
