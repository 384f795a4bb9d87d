// GPU plans of the activations (kernels/cuda/activations.cu): y = f(x), dx = f'(y) * dy,
// elementwise over contiguous tensors of one float dtype (halves computed in float32).
#pragma once
#include "cpu/activations.h"
#include "gpu/gpu.h"

namespace tc::gpu {

void relu(Gpu& g, const Tensor& x, const Tensor& y);
void relu_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx);
void tanh(Gpu& g, const Tensor& x, const Tensor& y);
void tanh_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx);
// y = act(y) in place (relu / tanh; none does nothing): the epilogue of the plans that do
// not fuse it (conv2d's own kernel).
void activate_inplace(Gpu& g, cpu::Act act, const Tensor& y);
// dx = grad * act'(y) (none: not called).
void activation_backward(Gpu& g, cpu::Act act, const Tensor& grad, const Tensor& y, const Tensor& dx);

}  // namespace tc::gpu
