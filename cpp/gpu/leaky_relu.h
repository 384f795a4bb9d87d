// GPU plans of leaky_relu: y = x > 0 ? x : slope * x (kernels/cuda/leaky_relu.cu).
// The binding has run the shared C++ checks and allocated the outputs; these only plan launches.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// y = leaky_relu(x); dx = grad * (x > 0 ? 1 : slope). Contiguous, same shape.
void leaky_relu(Gpu& g, const Tensor& x, double slope, const Tensor& y);
void leaky_relu_backward(Gpu& g, const Tensor& grad, const Tensor& x, double slope, const Tensor& dx);

}  // namespace tc::gpu
