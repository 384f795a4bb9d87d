// Fused binary cross-entropy from logits: loss and d loss / d logits in one pass.
//
// logits, targets: any shape (the same), float32/float64, contiguous. Per element, with
// y = (1 - s) * target + s / 2 (Keras's label smoothing s in [0, 1]) and p = pos_weight[j]
// (j = the index along the last axis; pos_weight [C] or [1] of the logits' dtype, or absent = 1):
//   loss = (1 - y) * x + (1 + (p - 1) * y) * softplus(-x)           (torch's formula)
//   dloss/dx = (1 - y) - (1 + (p - 1) * y) * sigmoid(-x)             (= sigmoid(x) - y for p = 1)
// softplus(-x) = log1p(exp(-|x|)) + max(-x, 0): stable for logits of +-1e4.
// reduction (cpu/softmax_cross_entropy.h's codes): none (loss like logits), mean over every
// element, sum (0-d). dlogits is the gradient of the reduced loss (nullptr: loss only); the
// mean's 1/M multiplies the finished per-element gradient (the same bits a framework gets from
// the "none" gradient times its upstream 1/M).
#pragma once
#include "core/tensor.h"
#include "cpu/softmax_cross_entropy.h"

namespace tc::cpu {

Shape binary_cross_entropy_with_logits_check(const Tensor& logits, const Tensor& targets,
                                             const Tensor* pos_weight, double label_smoothing,
                                             int reduction);

void binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits);

}  // namespace tc::cpu
