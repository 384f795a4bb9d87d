// rotate (affine warp: rotation about the centre + translation) on the tape
// (cpp/cpu/rotate.h). angle and translate are tape inputs too: constants usually,
// but watched ones get gradients (d angle per degree, d translate per pixel).
#include "cpu/rotate.h"
#include "tape/image_ops.h"

namespace tc::tape {

VarPtr rotate(const VarPtr& images, const VarPtr& angle, const VarPtr& translate, int interpolation,
              int fill, double fill_value, bool nhwc) {
  cpu::rotate_check(images->t(), angle->t(), translate->t(), interpolation, fill, nhwc);
  VarPtr out = new_var_like(images->t());
  cpu::rotate(images->t(), angle->t(), translate->t(), interpolation, fill, fill_value, nhwc, out->t());
  if (needs_record({&images, &angle, &translate}))
    record("rotate", {images, angle, translate}, out,
           [images, angle, translate, interpolation, fill, fill_value, nhwc](const Tensor& g,
                                                                             Tensor* const* gin) {
             cpu::rotate_backward(g, images->t(), angle->t(), translate->t(), interpolation, fill,
                                  fill_value, nhwc, gin[0], gin[1], gin[2]);
           });
  return out;
}

}  // namespace tc::tape
