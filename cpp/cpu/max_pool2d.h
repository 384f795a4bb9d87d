// 2-D max pooling, NCHW and NHWC natively (no transposes).
//   x [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC) -> y [N,C,OH,OW] / [N,OH,OW,C], and
//   indices int64 of y's shape: the argmax's flat index h*W + w within its (n, c)
//   plane (torch's convention, whatever the layout).
// Padded cells never win (torch pads with -inf; TF's "same" ignores them). A NaN in
// the window is the max (as torch does); ties go to the first cell in row-major order.
#pragma once
#include "core/geometry.h"
#include "core/tensor.h"

namespace tc::cpu {

// Validates x (float, rank 4, contiguous, non-empty) and the window, returns its
// geometry. Explicit padding may be at most half the kernel (torch's rule: every
// window keeps at least one real cell).
Window2d max_pool2d_check(const Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                          PadSpec pad, bool nhwc);
Shape max_pool2d_out_shape(const Tensor& x, const Window2d& g, bool nhwc);

// y: contiguous, shape max_pool2d_out_shape; indices: int64 of y's shape or nullptr.
void max_pool2d(const Tensor& x, const Window2d& g, bool nhwc, const Tensor& y, const Tensor* indices);

// Validates grad (float, rank 4), indices (int64, grad's shape) and x_shape (rank 4,
// positive, N and C equal to grad's); returns a geometry with ih, iw, oh, ow set
// (all that the scatter needs).
Window2d max_pool2d_backward_check(const Tensor& grad, const Tensor& indices, const Shape& x_shape,
                                   bool nhwc);
// dx (x's shape) = 0, then dx[plane][indices] += grad (overlapping windows add up).
// Throws ValueError('indices') if an index lies outside its plane (nothing is written
// outside dx).
void max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Window2d& g, bool nhwc,
                         const Tensor& dx);

}  // namespace tc::cpu
