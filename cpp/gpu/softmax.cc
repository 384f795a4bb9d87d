#include "gpu/softmax.h"

#include <algorithm>
#include <string>

namespace tc::gpu {

int64_t row_block(int64_t C) { return C <= 512 ? 128 : C <= 4096 ? 256 : 512; }

void softmax(Gpu& g, const Tensor& x, const Tensor& y) {
  const int64_t C = x.size(-1), R = x.numel() / C;
  g.launch(Launch("softmax.cu", std::string("softmax_") + suffix(x.dtype))
               .grid1(std::min<int64_t>(R, 65535 * 4)).block1(row_block(C)).p(x).p(y).i(R).i(C));
}

void softmax_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  const int64_t C = dy.size(-1), R = dy.numel() / C;
  g.launch(Launch("softmax.cu", std::string("softmax_backward_") + suffix(dy.dtype))
               .grid1(std::min<int64_t>(R, 65535 * 4)).block1(row_block(C)).p(dy).p(y).p(dx).i(R).i(C));
}

}  // namespace tc::gpu
