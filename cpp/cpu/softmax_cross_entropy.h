// Fused softmax cross-entropy: loss and d loss / d logits in one visit per row.
//
// logits: [N, C] float32/float64, contiguous.
// labels: [N] int32/int64 class ids in [0, C), or [N, C] probabilities / one-hot of the
//         logits' dtype.
// label_smoothing s in [0, 1]: target = (1 - s) * target + s / C (as torch and Keras).
// reduction: 0 none (loss [N]), 1 mean (loss 0-d), 2 sum (loss 0-d).
// dlogits [N, C]: the gradient of the reduced loss (for none, row i is d loss_i / d logits_i);
// nullptr computes the loss only.
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

enum Reduction : int { kReduceNone = 0, kReduceMean = 1, kReduceSum = 2 };

// Validates every argument (including that integer labels lie in [0, C), which reads the
// labels) and returns the loss shape. Throws ValueError/TypeError naming the argument.
Shape softmax_cross_entropy_check(const Tensor& logits, const Tensor& labels,
                                  double label_smoothing, int reduction);

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           int reduction, const Tensor& loss, const Tensor* dlogits);

}  // namespace tc::cpu
