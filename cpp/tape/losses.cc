// Losses on the tape: MSE (cpp/cpu/mse.h) and fused softmax cross-entropy
// (cpp/cpu/softmax_cross_entropy.h). Labels and targets are constants (no gradient
// flows into them): the node keeps its own copy, so the caller may reuse its array.
#include <cstring>

#include "core/dispatch.h"
#include "cpu/mse.h"
#include "cpu/softmax_cross_entropy.h"
#include "tape/ops.h"

namespace tc::tape {
namespace {

// "none" | "mean" | "sum" -> the kernels' reduction codes (0, 1, 2).
int reduction_code(const char* op, const std::string& r) {
  return choose(op, "reduction", r, {"none", "mean", "sum"});
}

OwnedTensor own_copy(const Tensor& t) {
  OwnedTensor o(t.shape, t.dtype, /*zero=*/false);
  std::memcpy(o.view.data, t.data, size_t(t.numel()) * dtype_size(t.dtype));
  return o;
}

}  // namespace

VarPtr mse(const VarPtr& pred, const Tensor& target, const std::string& reduction) {
  int red = reduction_code("mse", reduction);
  Shape ls = cpu::mse_check(pred->t(), target, red);
  VarPtr loss = new_var(ls, pred->t().dtype);
  cpu::mse(pred->t(), target, red, loss->t());
  if (needs_record({&pred})) {
    OwnedTensor tgt = own_copy(target);
    record("mse", {pred}, loss, [pred, tgt, red](const Tensor& g, Tensor* const* gin) {
      cpu::mse_backward(pred->t(), tgt.view, &g, red, *gin[0]);
    });
  }
  return loss;
}

VarPtr softmax_cross_entropy(const VarPtr& logits, const Tensor& labels, double smoothing,
                             const std::string& reduction) {
  const char* op = "softmax_cross_entropy";
  int red = reduction_code(op, reduction);
  Shape ls = cpu::softmax_cross_entropy_check(logits->t(), labels, smoothing, red);
  VarPtr loss = new_var(ls, logits->t().dtype);
  if (!needs_record({&logits})) {
    cpu::softmax_cross_entropy(logits->t(), labels, smoothing, red, loss->t(), nullptr);
    return loss;
  }
  // d loss / d logits comes out of the same pass; the backward only scales it by the
  // upstream gradient (one number, or one per row for reduction "none").
  OwnedTensor dlogits(logits->t().shape, logits->t().dtype, /*zero=*/false);
  cpu::softmax_cross_entropy(logits->t(), labels, smoothing, red, loss->t(), &dlogits.view);
  record(op, {logits}, loss, [dlogits, red](const Tensor& g, Tensor* const* gin) {
    const int64_t N = dlogits.view.size(0), C = dlogits.view.size(1);
    TC_FLOAT_TYPES("gradient", g.dtype, T, {
      const T *pd = dlogits.view.ptr<T>(), *pg = g.ptr<T>();
      T* d = gin[0]->ptr<T>();
      for (int64_t i = 0; i < N; ++i) {
        const T gi = red == cpu::kReduceNone ? pg[i] : pg[0];
        for (int64_t j = 0; j < C; ++j) d[i * C + j] = pd[i * C + j] * gi;
      }
    });
  });
  return loss;
}

}  // namespace tc::tape

// Binary cross-entropy from logits (cpu/binary_cross_entropy_with_logits.h): like softmax
// cross-entropy, d loss / d logits comes out of the forward pass and the backward scales it.
#include "cpu/binary_cross_entropy_with_logits.h"

namespace tc::tape {

VarPtr binary_cross_entropy_with_logits(const VarPtr& logits, const Tensor& targets, const Tensor* pos_weight,
                                        double smoothing, const std::string& reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  int red = reduction_code(op, reduction);
  Shape ls = cpu::binary_cross_entropy_with_logits_check(logits->t(), targets, pos_weight, smoothing, red);
  VarPtr loss = new_var(ls, logits->t().dtype);
  if (!needs_record({&logits})) {
    cpu::binary_cross_entropy_with_logits(logits->t(), targets, pos_weight, smoothing, red, loss->t(), nullptr);
    return loss;
  }
  OwnedTensor dlogits(logits->t().shape, logits->t().dtype, /*zero=*/false);
  cpu::binary_cross_entropy_with_logits(logits->t(), targets, pos_weight, smoothing, red, loss->t(),
                                        &dlogits.view);
  record(op, {logits}, loss, [dlogits, red](const Tensor& g, Tensor* const* gin) {
    const int64_t M = dlogits.view.numel();
    TC_FLOAT_TYPES("gradient", g.dtype, T, {
      const T *pd = dlogits.view.ptr<T>(), *pg = g.ptr<T>();
      T* d = gin[0]->ptr<T>();
      if (red == cpu::kReduceNone)
        for (int64_t i = 0; i < M; ++i) d[i] = pd[i] * pg[i];
      else
        for (int64_t i = 0; i < M; ++i) d[i] = pd[i] * pg[0];
    });
  });
  return loss;
}

}  // namespace tc::tape
