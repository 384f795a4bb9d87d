// GPU plans of batch normalization, training statistics and backward (kernels/cuda/batch_norm.cu).
// The binding has run the shared C++ checks and allocated the outputs; these only plan launches.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// x is [N, C] or an image batch (NCHW / NHWC); gamma, beta, statistics [C] (cpu/batch_norm.h).
// Training: y, mean, var (biased); inference: y from the running statistics; backward: dx /
// dgamma / dbeta (each may be null); update: the new running statistics (var corrected by
// count / (count - 1) when unbiased).
void batch_norm(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var);
void batch_norm_inference(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                          const Tensor& mean, const Tensor& var, double eps, const Tensor& y);
void batch_norm_backward(Gpu& g, const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx, const Tensor* dgamma,
                         const Tensor* dbeta);
void batch_norm_update_stats(Gpu& g, const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                             const Tensor& var, double momentum, int64_t count, bool unbiased, const Tensor& new_mean,
                             const Tensor& new_var);

}  // namespace tc::gpu
