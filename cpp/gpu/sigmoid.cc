#include "gpu/sigmoid.h"

namespace tc::gpu {

void sigmoid(Gpu& g, const Tensor& x, const Tensor& y) {
  Launch l("activations.cu", std::string("sigmoid_") + suffix(x.dtype));
  l.p(x).p(y).i(x.numel()).grid1(blocks(x.numel()));
  g.launch(l);
}

void sigmoid_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  Launch l("activations.cu", std::string("sigmoid_backward_") + suffix(dy.dtype));
  l.p(dy).p(y).p(dx).i(dy.numel()).grid1(blocks(dy.numel()));
  g.launch(l);
}

}  // namespace tc::gpu
