// GPU plans of batch normalization, training statistics and backward (kernels/cuda/batch_norm.cu).
// The binding has run the shared C++ checks and allocated the outputs; these only plan launches.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// Training: y, mean, var (biased); backward: dx / dgamma / dbeta (each may be null); update: new stats.
void batch_norm(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var);
void batch_norm_backward(Gpu& g, const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx, const Tensor* dgamma,
                         const Tensor* dbeta);

}  // namespace tc::gpu
