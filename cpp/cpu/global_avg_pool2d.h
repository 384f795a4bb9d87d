// Global average pooling: the mean over H and W of every (n, c) plane.
//   x [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC) -> y [N,C] (both layouts).
// Sums accumulate in double (float32 inputs too), so large planes lose no precision.
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

// Validates x (float, rank 4, contiguous, non-empty); returns y's shape [N, C].
Shape global_avg_pool2d_check(const Tensor& x, bool nhwc);
void global_avg_pool2d(const Tensor& x, bool nhwc, const Tensor& y);

// Validates grad (float [N,C]) against x_shape (rank 4, positive, N and C equal).
void global_avg_pool2d_backward_check(const Tensor& grad, const Shape& x_shape, bool nhwc);
// dx (x_shape) = grad[n, c] / (H * W) at every (h, w).
void global_avg_pool2d_backward(const Tensor& grad, bool nhwc, const Tensor& dx);

}  // namespace tc::cpu
