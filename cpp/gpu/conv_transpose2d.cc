#include "gpu/conv_transpose2d.h"

#include <algorithm>
#include <string>

namespace tc::gpu {
namespace {

std::string name(const char* base, DType d) { return std::string(base) + "_" + suffix(d); }

}  // namespace

void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc) {
  const int64_t N = y.size(0), C = nhwc ? y.size(3) : y.size(1), P = y.numel() / (N * C);
  g.launch(Launch("conv_transpose2d.cu", name("conv_transpose2d_bias", y.dtype)).grid1(blocks(y.numel()))
               .p(y).p(bias).i(N).i(C).i(P).i(nhwc ? 1 : 0));
}

}  // namespace tc::gpu
