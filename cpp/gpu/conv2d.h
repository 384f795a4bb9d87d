// GPU plans of 2-D convolution, NCHW and NHWC natively (kernels/cuda/conv2d.cu: implicit
// GEMM, the patch gather inside the kernel). Shapes and geometry as cpu/conv2d.h; the
// Window2d comes from cpu::conv2d_check.
#pragma once
#include "core/geometry.h"
#include "cpu/activations.h"
#include "gpu/gpu.h"

namespace tc::gpu {

// y = act(conv(x, w) + bias); bias may be nullptr.
void conv2d(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& geo, bool nhwc,
            const Tensor& y, cpu::Act act);
// dx, dw, dbias (each may be nullptr); with act, grad is first taken through it using y.
void conv2d_backward(Gpu& g, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& geo,
                     bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y,
                     cpu::Act act);

// ---- Conv-as-GEMM plans (cpp/gpu/conv2d_gemm.cc) -----------------------------------------
// Tried before our own kernels. A plan returns true when it ran the whole call (forward: y
// with bias and activation; backward: every requested output, grad already taken through
// the activation), false to leave it to our kernels. Registered at load time by
// set_conv2d_gemm_plans (e.g. `static int reg = set_conv2d_gemm_plans(&fwd, &bwd);`);
// null until then.
using Conv2dForwardPlan = bool (*)(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias,
                                   const Window2d& geo, bool nhwc, const Tensor& y, cpu::Act act);
using Conv2dBackwardPlan = bool (*)(Gpu& g, const Tensor& grad, const Tensor& x, const Tensor& w,
                                    const Window2d& geo, bool nhwc, const Tensor* dx, const Tensor* dw,
                                    const Tensor* dbias);
int set_conv2d_gemm_plans(Conv2dForwardPlan forward, Conv2dBackwardPlan backward);

}  // namespace tc::gpu
