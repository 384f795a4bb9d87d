// 2-D transposed convolution (torch's nn.ConvTranspose2d, Keras's Conv2DTranspose): the
// adjoint of conv2d, y = conv2d's input gradient for "grad" x. It runs on conv2d's kernels
// (cpu/conv2d.h): the forward is conv2d_backward's dx, the input gradient is conv2d's
// forward, the weight gradient is conv2d_backward's dw (with the roles of x and grad swapped).
// NCHW where conv2d's NHWC path runs its direct kernels (the weight fits L2, Cout fills 64-byte
// vectors; e.g. the GAN's 64 -> 32 4x4): the same kernels image by image on NHWC copies
// transposed in cache (y and dx are the NHWC path's bits). Other NCHW shapes: groups of
// images, one GEMM per group, col2im / im2col.
//   NCHW: x [N, Cin, H, W], w [Cin, Cout, KH, KW] (torch's layout),  y [N, Cout, OH, OW]
//   NHWC: x [N, H, W, Cin], w [KH, KW, Cout, Cin] (Keras's layout),  y [N, OH, OW, Cout]
// (both are conv2d's weight of the conv y -> x: OIHW / HWIO with O = Cin, I = Cout.) bias [Cout].
// Output size, per axis (k_eff = dilation * (k - 1) + 1):
//   explicit padding p (torch): OH = (H - 1) * s - 2p + k_eff + output_padding
//   "valid" (Keras): OH = H * s + max(k_eff - s, 0), or (H - 1) * s + k_eff + output_padding
//   "same"  (Keras): OH = H * s, or (H - 1) * s + k_eff - 2 * (k_eff / 2) + output_padding,
//           padded as TensorFlow pads the conv of OH (odd pixel at the bottom/right).
// output_padding: -1 = not given (Keras's None; 0 for explicit padding); else
// 0 <= output_padding < max(stride, dilation) (torch's rule).
#pragma once
#include <utility>

#include "core/geometry.h"
#include "core/tensor.h"

namespace tc::cpu {

// Validates x, w, bias and the geometry; returns the window of the conv y -> x (ih, iw: y's
// size; oh, ow: x's) and sets *out_shape (y's shape).
Window2d conv_transpose2d_check(const Tensor& x, const Tensor& w, const Tensor* bias,
                                std::pair<int64_t, int64_t> stride, PadSpec padding,
                                std::pair<int64_t, int64_t> output_padding,
                                std::pair<int64_t, int64_t> dilation, bool nhwc, Shape* out_shape,
                                const char* op = "conv_transpose2d");

// y = conv_transpose(x, w) + bias (bias may be nullptr); y preallocated with the checked shape.
void conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
                      const Tensor& y);

// From grad = dL/dy: dx (x's shape), dw (w's shape), dbias [Cout]; each may be nullptr.
void conv_transpose2d_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                               bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias);

}  // namespace tc::cpu
