// GPU plans of softmax over the last axis (kernels/cuda/softmax.cu): one block per row.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void softmax(Gpu& g, const Tensor& x, const Tensor& y);
void softmax_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx);
// Threads per row block: more for wide rows.
int64_t row_block(int64_t C);

}  // namespace tc::gpu
