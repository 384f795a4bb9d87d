// GPU plans of the rotation + translation transform (kernels/cuda/rotate.cu); arguments as
// cpu/rotate.h (interpolation 0 bilinear / 1 nearest; fill 0 zeros, 1 constant, 2 nearest,
// 3 reflect). angle / translate are device tensors of the images' dtype; unlike the CPU
// they are not checked for finiteness (that would cost a copy and a sync: NaN in, NaN out).
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void rotate(Gpu& g, const Tensor& images, const Tensor& angle, const Tensor& translate, int interpolation,
            int fill, double fill_value, bool nhwc, const Tensor& out);
// deterministic: d images by the gather form where the fill allows it (zeros, constant),
// else by atomicAdd; d angle / d translate always by two deterministic passes (double).
void rotate_backward(Gpu& g, const Tensor& grad, const Tensor& images, const Tensor& angle,
                     const Tensor& translate, int interpolation, int fill, double fill_value, bool nhwc,
                     const Tensor* dimages, const Tensor* dangle, const Tensor* dtranslate, bool deterministic);

}  // namespace tc::gpu
