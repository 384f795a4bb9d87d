// GPU plans of 2-D max pooling (kernels/cuda/max_pool2d.cu), NCHW and NHWC.
#pragma once
#include "core/geometry.h"
#include "gpu/gpu.h"

namespace tc::gpu {

// indices: int64 of y's shape, or nullptr.
void max_pool2d(Gpu& g, const Tensor& x, const Window2d& w, bool nhwc, const Tensor& y, const Tensor* indices);
// window == nullptr: each grad scattered to its argmax by atomicAdd (in float for halves);
// with max_pool2d's window: the gather form (deterministic whatever the overlap).
void max_pool2d_backward(Gpu& g, const Tensor& grad, const Tensor& indices, const Window2d& shape,
                         const Window2d* window, bool nhwc, const Tensor& dx);

}  // namespace tc::gpu
