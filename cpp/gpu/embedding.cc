// embedding's GPU plan: the gather, and the atomic-free scatter-add (each thread owns one
// column of one vocabulary slice and walks the ids in order: the same bits every run).
#include "gpu/embedding.h"

#include <algorithm>

namespace tc::gpu {

void embedding(Gpu& g, const Tensor& ids, const Tensor& weight, const Tensor& out) {
  const int64_t n = ids.numel(), V = weight.size(0), D = weight.size(1);
  Launch l("embedding.cu", std::string("embedding_") + suffix(weight.dtype));
  l.p(weight).p(ids).i(ids.dtype == DType::i64 ? 1 : 0).p(out).i(n).i(V).i(D).p(static_cast<const void*>(nullptr)).grid1(blocks(n * D));
  g.launch(l);
}

void embedding_backward(Gpu& g, const Tensor& grad, const Tensor& ids, int64_t padding_idx, const Tensor& dweight) {
  const int64_t n = ids.numel(), V = dweight.size(0), D = dweight.size(1);
  const DType dt = grad.dtype;
  const bool half = dt == DType::f16 || dt == DType::bf16;
  Tensor acc = half ? g.scratch(Shape{V, D}, DType::f32) : dweight;  // float accumulation for f16/bf16
  g.memset0(acc.data, size_t(V * D) * dtype_size(acc.dtype));
  const int64_t per = 128, col_blocks = (D + per - 1) / per;
  // Enough (column block, vocabulary slice) pairs to fill the GPU; at most 65535 slices.
  int64_t slices = std::min<int64_t>(V, std::max<int64_t>(1, 2048 / col_blocks));
  slices = std::min<int64_t>(slices, 65535);
  const int64_t vslice = (V + slices - 1) / slices;
  Launch l("embedding.cu", std::string("embedding_backward_") + suffix(dt));
  l.p(grad).p(ids).i(ids.dtype == DType::i64 ? 1 : 0).p(acc).i(n).i(V).i(D).i(padding_idx).i(vslice)
      .grid1(col_blocks, (V + vslice - 1) / vslice).block1(per);
  g.launch(l);
  if (half) {
    Launch f("embedding.cu", std::string("embedding_backward_finish_") + suffix(dt));
    f.p(acc).p(dweight).i(V * D).grid1(blocks(V * D));
    g.launch(f);
  }
}

}  // namespace tc::gpu
