// sigmoid's GPU plans over kernels/cuda/activations.cu (sigmoid_<dt>, sigmoid_backward_<dt>).
// In its own file so as not to collide with the host-side port's activations plan; fold it
// into cpp/gpu/activations.cc at merge if that exists.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void sigmoid(Gpu& g, const Tensor& x, const Tensor& y);
void sigmoid_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx);

}  // namespace tc::gpu
