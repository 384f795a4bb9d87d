#include "gpu/binary_cross_entropy_with_logits.h"

#include <algorithm>
#include <string>

namespace tc::gpu {
namespace {

std::string name(const char* base, DType d) { return std::string(base) + "_" + suffix(d); }

}  // namespace

void binary_cross_entropy_with_logits(Gpu& g, const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits) {
  const int64_t M = logits.numel(), grid = blocks(M, 256, 1024);  // a fixed grid: deterministic sums
  const int64_t C = pos_weight ? pos_weight->numel() : 1;
  const double scale = reduction == 1 ? 1.0 / double(M) : 1.0;
  const bool none = reduction == 0;
  Tensor part;
  if (!none) part = g.scratch(Shape{grid}, DType::f64);
  g.launch(Launch("binary_cross_entropy_with_logits.cu", name("binary_cross_entropy_with_logits", logits.dtype))
               .grid1(grid).p(logits).p(targets).p(pos_weight).i(C).i(M).d(label_smoothing).d(scale)
               .p(none ? loss.data : nullptr).p(none ? nullptr : part.data).p(dlogits));
  if (!none)
    g.launch(Launch("binary_cross_entropy_with_logits.cu",
                    name("binary_cross_entropy_with_logits_finish", logits.dtype))
                 .grid1(1).p(part).i(grid).d(reduction == 1 ? 1.0 / double(M) : 1.0).p(loss));
}

}  // namespace tc::gpu
