// GPU plans of the fused optimizer steps (kernels/cuda/optim.cu), in place; the options are
// cpu/optim.h's (validated by its *_check functions), the constants computed here in the
// precision the CPU kernels use.
#pragma once
#include "cpu/optim.h"
#include "gpu/gpu.h"

namespace tc::gpu {

void sgd_step(Gpu& g, const Tensor& param, const Tensor& grad, const Tensor* buf, const cpu::SgdOptions& o);
void adam_step(Gpu& g, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
               const cpu::AdamOptions& o);

}  // namespace tc::gpu
