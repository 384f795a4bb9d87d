// conv2d on the tape (cpp/cpu/conv2d.h): NCHW/OIHW or NHWC/HWIO, stride, padding,
// dilation, bias. The backward needs x and w, which the closure holds.
#include "cpu/conv2d.h"
#include "tape/image_ops.h"

namespace tc::tape {

VarPtr conv2d(const VarPtr& x, const VarPtr& w, const VarPtr& bias, Pair stride,
              PadSpec padding, Pair dilation, bool nhwc) {
  Shape ys;
  Window2d g = cpu::conv2d_check(x->t(), w->t(), bias ? &bias->t() : nullptr, stride, padding, dilation,
                                 nhwc, &ys);
  VarPtr y = new_var(ys, x->t().dtype);
  cpu::conv2d(x->t(), w->t(), bias ? &bias->t() : nullptr, g, nhwc, y->t());
  if (needs_record({&x, &w, &bias}))
    record("conv2d", {x, w, bias}, y, [x, w, g, nhwc](const Tensor& gout, Tensor* const* gin) {
      cpu::conv2d_backward(gout, x->t(), w->t(), g, nhwc, gin[0], gin[1], gin[2]);
    });
  return y;
}

}  // namespace tc::tape
