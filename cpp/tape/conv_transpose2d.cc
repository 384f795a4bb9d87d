// conv_transpose2d on the tape (cpp/cpu/conv_transpose2d.h): NCHW with torch's [Cin, Cout, KH, KW]
// weight or NHWC with Keras's [KH, KW, Cout, Cin]. The backward needs x and w, which the closure holds.
#include "cpu/conv_transpose2d.h"
#include "tape/image_ops.h"

namespace tc::tape {

VarPtr conv_transpose2d(const VarPtr& x, const VarPtr& w, const VarPtr& bias, Pair stride, PadSpec padding,
                        Pair output_padding, Pair dilation, bool nhwc) {
  Shape ys;
  Window2d g = cpu::conv_transpose2d_check(x->t(), w->t(), bias ? &bias->t() : nullptr, stride, padding,
                                           output_padding, dilation, nhwc, &ys);
  VarPtr y = new_var(ys, x->t().dtype);
  cpu::conv_transpose2d(x->t(), w->t(), bias ? &bias->t() : nullptr, g, nhwc, y->t());
  if (needs_record({&x, &w, &bias}))
    record("conv_transpose2d", {x, w, bias}, y, [x, w, g, nhwc](const Tensor& gout, Tensor* const* gin) {
      cpu::conv_transpose2d_backward(gout, x->t(), w->t(), g, nhwc, gin[0], gin[1], gin[2]);
    });
  return y;
}

}  // namespace tc::tape
