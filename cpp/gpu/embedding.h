// The GPU plans of embedding (cpp/gpu/embedding.cc) over kernels/cuda/embedding.cu; the
// binding validates with cpu::embedding_check's rules (ids' values are only checked on the
// CPU: on the GPU an out-of-range id gives a zero row and is never dereferenced).
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void embedding(Gpu& g, const Tensor& ids, const Tensor& weight, const Tensor& out);
// dweight [V, D] (zeroed here); padding_idx < 0: none.
void embedding_backward(Gpu& g, const Tensor& grad, const Tensor& ids, int64_t padding_idx, const Tensor& dweight);

}  // namespace tc::gpu
