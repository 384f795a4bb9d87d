// Binary cross-entropy from logits on the tape (cpu/binary_cross_entropy_with_logits.h): like softmax
// cross-entropy, d loss / d logits comes out of the forward pass and the backward scales it.
#include "core/dispatch.h"
#include "cpu/binary_cross_entropy_with_logits.h"
#include "tape/ops.h"

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
