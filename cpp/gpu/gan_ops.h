// GPU launch plans of the GAN ops (issue 16) against gpu.h: each validates nothing (the op's
// binding already ran the shared C++ checks and allocated the outputs) and only plans launches of
// kernels/cuda/<file>.cu. conv_transpose2d has no plan of its own here: it is conv2d's plans with
// the roles swapped (cpp/cpu/conv_transpose2d.h), plus conv_transpose2d_bias below.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// y = leaky_relu(x); dx = grad * (x > 0 ? 1 : slope). Contiguous, same shape.
void leaky_relu(Gpu& g, const Tensor& x, double slope, const Tensor& y);
void leaky_relu_backward(Gpu& g, const Tensor& grad, const Tensor& x, double slope, const Tensor& dx);

// reduction: cpu::Reduction codes. loss like logits (none) or 0-d; dlogits may be null.
void binary_cross_entropy_with_logits(Gpu& g, const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits);

// y[., c] += bias[c] after conv2d_backward_input computed the transposed convolution into y.
void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc);

// Training: y, mean, var (biased); backward: dx / dgamma / dbeta (each may be null); update: new stats.
void batch_norm(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var);
void batch_norm_backward(Gpu& g, const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx, const Tensor* dgamma,
                         const Tensor* dbeta);

}  // namespace tc::gpu
