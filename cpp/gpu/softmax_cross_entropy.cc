#include "gpu/softmax_cross_entropy.h"

#include <algorithm>
#include <string>

#include "gpu/softmax.h"

namespace tc::gpu {

void softmax_cross_entropy(Gpu& g, const Tensor& logits, const Tensor& labels, double s, int reduction,
                           const Tensor& loss, const Tensor* dlogits) {
  const int64_t N = logits.size(0), C = logits.size(1);
  const std::string sfx = suffix(logits.dtype);
  const char* kind = labels.dtype == DType::i32 ? "_i32" : labels.dtype == DType::i64 ? "_i64" : "_prob";
  // Class ids and C <= 32768: the one-read kernel (the row kept in registers: one read of
  // the logits, one write of dlogits); else the two-pass kernel. Same arguments.
  const bool one_read = (labels.dtype == DType::i32 || labels.dtype == DType::i64) && C <= 32 * 1024;
  const int64_t block = one_read ? std::min<int64_t>((((C + 31) / 32) + 31) / 32 * 32, 1024) : row_block(C);
  Launch l("softmax_cross_entropy.cu",
           std::string(one_read ? "softmax_cross_entropy_reg_" : "softmax_cross_entropy_") + sfx + kind);
  l.grid1(std::min<int64_t>(N, 65535 * 4)).block1(block).p(logits).p(labels).i(N).i(C).d(s);
  if (reduction == 0) {  // none: one loss per row
    g.launch(l.d(1.0).p(loss).p(nullptr).p(dlogits));
    return;
  }
  const double scale = reduction == 1 ? 1.0 / double(N) : 1.0;
  Tensor part = g.scratch(Shape{N}, DType::f64);
  g.launch(l.d(scale).p(nullptr).p(part).p(dlogits));
  g.launch(Launch("softmax_cross_entropy.cu", "softmax_cross_entropy_finish_" + sfx)
               .p(part).i(N).d(scale).p(loss));
}

}  // namespace tc::gpu
