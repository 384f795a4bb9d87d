// GPU plans of global average pooling (kernels/cuda/global_avg_pool2d.cu): x [N,C,H,W] / [N,H,W,C] -> y [N,C].
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void global_avg_pool2d(Gpu& g, const Tensor& x, bool nhwc, const Tensor& y);
void global_avg_pool2d_backward(Gpu& g, const Tensor& grad, bool nhwc, const Tensor& dx);

}  // namespace tc::gpu
