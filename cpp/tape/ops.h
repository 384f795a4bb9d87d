// The ops the tape knows. Each computes its output with the CPU kernels
// (cpp/cpu/<op>.h), and when an active tape tracks an input, records a node
// whose backward closure holds what the backward kernel needs (the output for
// relu/tanh/softmax, the inputs for matmul, the fused dlogits for softmax
// cross-entropy, ...). Errors name the op and the argument, as the kernels do.
#pragma once
#include <cstring>
#include <string>

#include "tape/tape.h"

namespace tc::tape {

// c = op(a) . op(b) (+ bias), as cpu/matmul.h: a [M,K] or [B,M,K] ([K,M] / [B,K,M]
// with trans_a), b [K,N] or [B,K,N] ([N,K] / [B,N,K] with trans_b), bias [N] or null.
VarPtr matmul(const VarPtr& a, const VarPtr& b, const VarPtr& bias, bool trans_a, bool trans_b);

VarPtr relu(const VarPtr& x);
VarPtr tanh(const VarPtr& x);
VarPtr softmax(const VarPtr& x);  // over the last axis
VarPtr leaky_relu(const VarPtr& x, double negative_slope);  // the backward holds x

// Elementwise with NumPy broadcasting; the backward sums over broadcast axes.
VarPtr add(const VarPtr& a, const VarPtr& b);
VarPtr sub(const VarPtr& a, const VarPtr& b);
VarPtr mul(const VarPtr& a, const VarPtr& b);

VarPtr reshape(const VarPtr& x, const Shape& shape);  // one dim may be -1
VarPtr sum(const VarPtr& x);                          // all elements -> 0-d
VarPtr mean(const VarPtr& x);                         // all elements -> 0-d

// Losses. reduction: "mean" | "sum" | "none". labels/target are constants.
VarPtr mse(const VarPtr& pred, const Tensor& target, const std::string& reduction);
VarPtr softmax_cross_entropy(const VarPtr& logits, const Tensor& labels, double label_smoothing,
                             const std::string& reduction);
// targets: the logits' shape; pos_weight [C] / [1] or null (cpu/binary_cross_entropy_with_logits.h).
VarPtr binary_cross_entropy_with_logits(const VarPtr& logits, const Tensor& targets, const Tensor* pos_weight,
                                        double label_smoothing, const std::string& reduction);

// For the losses (their reduction: core/tensor.h's reduction_code): a copy of a constant
// (labels, targets) that a node keeps so the caller may reuse its array.
inline OwnedTensor own_copy(const Tensor& t) {
  OwnedTensor o(t.shape, t.dtype, /*zero=*/false);
  std::memcpy(o.view.data, t.data, size_t(t.numel()) * dtype_size(t.dtype));
  return o;
}

// Shapes, for the checks shared by the ops.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b);

}  // namespace tc::tape
