// GPU plans of the mean squared error (kernels/cuda/mse.cu): elementwise for reduction
// none; else per-block double partials and a fixed-order final sum (deterministic).
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// reduction: 0 none, 1 mean, 2 sum (as cpu/mse.h).
void mse(Gpu& g, const Tensor& pred, const Tensor& target, int reduction, const Tensor& loss);
// dpred = 2 (pred - target) * grad * grad_scale (/ numel for mean); grad: nullptr (1), a
// one-element tensor (mean / sum) or pred's shape (none). grad_scale: a Python scalar grad.
void mse_backward(Gpu& g, const Tensor& pred, const Tensor& target, const Tensor* grad, double grad_scale,
                  int reduction, const Tensor& dpred);

}  // namespace tc::gpu
