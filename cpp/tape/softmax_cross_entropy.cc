// Fused softmax cross-entropy on the tape (cpp/cpu/softmax_cross_entropy.h): d loss / d logits
// comes out of the forward pass; the labels are a constant the node keeps its own copy of.
#include "core/dispatch.h"
#include "cpu/softmax_cross_entropy.h"
#include "tape/ops.h"

namespace tc::tape {

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
