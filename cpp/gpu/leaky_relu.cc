#include "gpu/leaky_relu.h"

#include <algorithm>
#include <string>

namespace tc::gpu {
namespace {

std::string name(const char* base, DType d) { return std::string(base) + "_" + suffix(d); }

}  // namespace

void leaky_relu(Gpu& g, const Tensor& x, double slope, const Tensor& y) {
  const int64_t n = x.numel();
  g.launch(Launch("leaky_relu.cu", name("leaky_relu", x.dtype)).grid1(blocks(n)).p(x).p(y).i(n).d(slope));
}

void leaky_relu_backward(Gpu& g, const Tensor& grad, const Tensor& x, double slope, const Tensor& dx) {
  const int64_t n = x.numel();
  g.launch(Launch("leaky_relu.cu", name("leaky_relu_backward", x.dtype)).grid1(blocks(n)).p(grad).p(x).p(dx).i(n)
               .d(slope));
}

}  // namespace tc::gpu
