// Rotation + translation image transform (an affine warp, gather form).
//
// images [N,C,H,W] (nhwc=false) or [N,H,W,C] (nhwc=true), float32/float64, contiguous.
// angle: 0-d (shared by all samples) or [N], degrees counter-clockwise as displayed
// (row 0 at the top). translate: [2] (shared) or [N,2], (dx, dy) pixels, dx to the
// right, dy down. angle/translate have the images' dtype and device.
//
// Output pixel (y, x) samples the input at
//   u = x - cx - dx, v = y - cy - dy,   cx = (W-1)/2, cy = (H-1)/2
//   sx = cos(a) u - sin(a) v + cx,  sy = sin(a) u + cos(a) v + cy
// (pixel centres on integer coordinates: scipy.ndimage's and TF's convention).
// interpolation: 0 bilinear, 1 nearest (round half up: floor(s + 0.5), as scipy).
// fill (what taps outside the image read): 0 zeros, 1 constant (fill_value),
// 2 nearest (edge clamp), 3 reflect (half-sample symmetric, scipy 'reflect' = TF REFLECT:
// d c b a | a b c d | d c b a). For zeros/constant each outside tap reads the constant and
// is interpolated with the inside ones (scipy 'grid-constant', TF CONSTANT, torch zeros).
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

// Validates every argument (ValueError/TypeError naming twincore.rotate and the argument):
// images rank 4, float, non-empty, contiguous; angle 0-d or [N], finite; translate [2] or
// [N,2], finite; interpolation in {0,1}; fill in {0..3}. The output has images' shape.
void rotate_check(const Tensor& images, const Tensor& angle, const Tensor& translate,
                  int interpolation, int fill, bool nhwc);

// out: images' shape and dtype, contiguous.
void rotate(const Tensor& images, const Tensor& angle, const Tensor& translate, int interpolation,
            int fill, double fill_value, bool nhwc, const Tensor& out);

// grad: images' shape. Outputs (nullptr = not needed): dimages like images; dangle like
// angle (per degree; summed over the batch when angle is 0-d); dtranslate like translate.
// Nearest interpolation has zero gradient w.r.t. angle/translate almost everywhere: zeros.
void rotate_backward(const Tensor& grad, const Tensor& images, const Tensor& angle,
                     const Tensor& translate, int interpolation, int fill, double fill_value,
                     bool nhwc, const Tensor* dimages, const Tensor* dangle,
                     const Tensor* dtranslate);

}  // namespace tc::cpu
