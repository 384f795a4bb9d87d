// GPU plans of 2-D transposed convolution. As on the CPU (cpp/cpu/conv_transpose2d.h) it runs
// on conv2d's plans (cpp/gpu/conv2d.h: conv-as-GEMM through the vendor GEMM when one is
// loaded, else our implicit-GEMM kernels), with the geometry `g` of the conv y -> x that
// cpu::conv_transpose2d_check returns:
//   forward    y  = conv2d_backward's dx for "grad" x (+ bias: conv_transpose2d.cu)
//   backward   dx = conv2d(grad, w);  dw = conv2d_backward's dw with x and grad swapped;
//              dbias = conv2d.cu's per-channel reduction of grad (fixed order, deterministic)
// Shapes and layouts as cpu/conv_transpose2d.h. The binding has run the shared checks and
// allocated the outputs; these only plan launches.
#pragma once
#include "core/geometry.h"
#include "gpu/gpu.h"

namespace tc::gpu {

// y = conv_transpose(x, w) + bias; bias may be nullptr.
void conv_transpose2d(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& geo, bool nhwc,
                      const Tensor& y);
// From grad = dL/dy: dx, dw, dbias (each may be nullptr).
void conv_transpose2d_backward(Gpu& g, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& geo,
                               bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias);

// y[., c] += bias[c] after conv2d_backward computed the transposed convolution into y.
void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc);

}  // namespace tc::gpu
