// max_pool2d on the tape (cpp/cpu/max_pool2d.h): the forward keeps the argmax indices for its
// backward (a scatter).
#include "cpu/max_pool2d.h"
#include "tape/image_ops.h"

namespace tc::tape {

VarPtr max_pool2d(const VarPtr& x, Pair kernel, Pair stride,
                  PadSpec padding, bool nhwc) {
  Window2d g = cpu::max_pool2d_check(x->t(), kernel.first, kernel.second, stride.first, stride.second,
                                     padding, nhwc);
  Shape ys = cpu::max_pool2d_out_shape(x->t(), g, nhwc);
  VarPtr y = new_var(ys, x->t().dtype);
  if (!needs_record({&x})) {
    cpu::max_pool2d(x->t(), g, nhwc, y->t(), nullptr);
    return y;
  }
  OwnedTensor indices(ys, DType::i64);
  cpu::max_pool2d(x->t(), g, nhwc, y->t(), &indices.view);
  record("max_pool2d", {x}, y, [indices, g, nhwc](const Tensor& gout, Tensor* const* gin) {
    cpu::max_pool2d_backward(gout, indices.view, g, nhwc, *gin[0]);
  });
  return y;
}

}  // namespace tc::tape
