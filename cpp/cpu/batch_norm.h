// Batch normalization over every axis but the channel axis, in training (batch statistics) or
// inference (running statistics) mode, and the running-statistics update -- the arithmetic of
// torch's BatchNorm1d/2d and Keras's BatchNormalization, whose conventions the frontends map:
//   x: [N, C] (rank 2), or [N, C, H, W] (NCHW) / [N, H, W, C] (NHWC); gamma, beta [C] or absent.
//   training:  mean, var = the batch's (var biased, 1/M); y = (x - mean) / sqrt(var + eps) * gamma + beta
//   inference: the same with running_mean, running_var.
//   update:    running = (1 - momentum) * running + momentum * batch (torch's convention: Keras's
//              momentum 0.99 is 0.01 here); the variance enters unbiased (M / (M - 1), torch) or
//              biased (Keras) by `unbiased`.
//   backward (training): xh = (x - mean) * invstd, g' = grad * gamma,
//              dx = invstd * (g' - mean(g') - xh * mean(g' * xh)); dgamma = sum(grad * xh); dbeta = sum(grad).
// Sums per channel in double, in a fixed order (deterministic whatever the threads).
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

// Validates x (rank 2 or 4, float), gamma / beta / stats ([C], x's dtype; each may be null) and eps;
// returns C.
int64_t batch_norm_check(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                         const Tensor* mean, const Tensor* var, double eps, const char* op);

// Training: y, and the batch mean / biased var [C].
void batch_norm(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var);
// Inference with given statistics.
void batch_norm_inference(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                          const Tensor& mean, const Tensor& var, double eps, const Tensor& y);
// Gradients of the training forward (mean, var: what it returned); outputs may be null.
void batch_norm_backward(const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx,
                         const Tensor* dgamma, const Tensor* dbeta);
// new_mean / new_var = the running statistics after one batch of `count` values per channel.
// The update's rules (every frontend): running_mean a float vector, the others like it,
// momentum in [0, 1], count >= 1; errors name 'batch_norm_update_stats' and the argument.
void batch_norm_update_stats_check(const Tensor& rm, const Tensor& rv, const Tensor& mean, const Tensor& var,
                                   double mom, int64_t count);
void batch_norm_update_stats(const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                             const Tensor& var, double momentum, int64_t count, bool unbiased,
                             const Tensor& new_mean, const Tensor& new_var);

}  // namespace tc::cpu
