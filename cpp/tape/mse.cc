// MSE on the tape (cpp/cpu/mse.h). The target is a constant: the node keeps its own copy.
#include "core/dispatch.h"
#include "cpu/mse.h"
#include "tape/ops.h"

namespace tc::tape {

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

}  // namespace tc::tape
