// embedding on the tape (cpp/cpu/embedding.h): ids are a constant the node copies; the
// backward is the kernel's deterministic scatter-add into the weight's gradient.
#include <cstring>

#include "cpu/embedding.h"
#include "tape/sequence_ops.h"
#include "tape/ops.h"

namespace tc::tape {

VarPtr embedding(const Tensor& ids, const VarPtr& weight) {
  Shape s = cpu::embedding_check(ids, weight->t(), "embedding");
  VarPtr out = new_var(s, weight->t().dtype);
  cpu::embedding(ids, weight->t(), out->t());
  if (needs_record({&weight})) {
    OwnedTensor own(ids.shape, ids.dtype, /*zero=*/false);
    std::memcpy(own.view.data, ids.data, size_t(ids.numel()) * dtype_size(ids.dtype));
    record("embedding", {weight}, out, [own](const Tensor& g, Tensor* const* gin) {
      if (gin[0]) cpu::embedding_backward(g, own.view, -1, *gin[0]);
    });
  }
  return out;
}

}  // namespace tc::tape
