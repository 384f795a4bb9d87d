// Mean squared error. pred, target: same shape (any rank), contiguous, float32/float64.
// reduction: 0 none (loss has pred's shape: (pred - target)^2), 1 mean, 2 sum (loss 0-d).
// Backward: dpred = 2 (pred - target) * grad (/ numel for mean); grad is the upstream
// gradient: one element (0-d or [1]) for mean/sum, pred's shape for none; nullptr means 1.
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

// Validates pred, target and reduction; returns the loss shape.
Shape mse_check(const Tensor& pred, const Tensor& target, int reduction);
void mse(const Tensor& pred, const Tensor& target, int reduction, const Tensor& loss);
// Validates mse_backward's arguments (pred, target and reduction as mse_check, plus grad).
void mse_backward_check(const Tensor& pred, const Tensor& target, const Tensor* grad, int reduction);
void mse_backward(const Tensor& pred, const Tensor& target, const Tensor* grad, int reduction,
                  const Tensor& dpred);

}  // namespace tc::cpu
