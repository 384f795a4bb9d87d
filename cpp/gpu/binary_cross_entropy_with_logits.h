// GPU plans of fused binary cross-entropy from logits (kernels/cuda/binary_cross_entropy_with_logits.cu).
// The binding has run the shared C++ checks and allocated the outputs; these only plan launches.
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// reduction: cpu::Reduction codes. loss like logits (none) or 0-d; dlogits may be null.
void binary_cross_entropy_with_logits(Gpu& g, const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits);

}  // namespace tc::gpu
