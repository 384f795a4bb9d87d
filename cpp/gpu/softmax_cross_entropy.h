// GPU plan of the fused softmax cross-entropy (kernels/cuda/softmax_cross_entropy.cu): one
// block per row writes d logits and the row's loss (reduction none) or a double partial,
// then one block sums the partials in a fixed order (deterministic).
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

// reduction as cpu::Reduction (0 none, 1 mean, 2 sum); dlogits may be nullptr.
void softmax_cross_entropy(Gpu& g, const Tensor& logits, const Tensor& labels, double label_smoothing,
                           int reduction, const Tensor& loss, const Tensor* dlogits);

}  // namespace tc::gpu
