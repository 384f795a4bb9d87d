// Elementwise activations. x, y, dy, dx: same shape, contiguous, float32/float64.
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

void relu(const Tensor& x, const Tensor& y);                         // y = max(x, 0); NaN stays NaN
void relu_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (y > 0)
void tanh(const Tensor& x, const Tensor& y);
void tanh_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (1 - y^2)

}  // namespace tc::cpu
