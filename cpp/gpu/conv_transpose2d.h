// GPU plans of conv_transpose2d's bias pass (kernels/cuda/conv_transpose2d.cu); its GEMMs are conv2d's plans with the roles swapped (cpp/cpu/conv_transpose2d.h).
// The binding has run the shared C++ checks and allocated the outputs; these only plan launches.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// y[., c] += bias[c] after conv2d_backward_input computed the transposed convolution into y.
void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc);

}  // namespace tc::gpu
