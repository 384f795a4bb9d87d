#include "gpu/activations.h"

#include <string>

namespace tc::gpu {
namespace {

void unary(Gpu& g, const char* name, const Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  g.launch(Launch("activations.cu", std::string(name) + "_" + suffix(x.dtype)).grid1(blocks(n)).p(x).p(y).i(n));
}

void unary_backward(Gpu& g, const char* name, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  const int64_t n = dy.numel();
  g.launch(Launch("activations.cu", std::string(name) + "_" + suffix(dy.dtype))
               .grid1(blocks(n)).p(dy).p(y).p(dx).i(n));
}

}  // namespace

void relu(Gpu& g, const Tensor& x, const Tensor& y) { unary(g, "relu", x, y); }
void tanh(Gpu& g, const Tensor& x, const Tensor& y) { unary(g, "tanh", x, y); }
void relu_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  unary_backward(g, "relu_backward", dy, y, dx);
}
void tanh_backward(Gpu& g, const Tensor& dy, const Tensor& y, const Tensor& dx) {
  unary_backward(g, "tanh_backward", dy, y, dx);
}

void activate_inplace(Gpu& g, cpu::Act act, const Tensor& y) {
  if (act == cpu::Act::relu) relu(g, y, y);  // elementwise: in place is safe
  if (act == cpu::Act::tanh) tanh(g, y, y);
}

void activation_backward(Gpu& g, cpu::Act act, const Tensor& grad, const Tensor& y, const Tensor& dx) {
  if (act == cpu::Act::relu) relu_backward(g, grad, y, dx);
  if (act == cpu::Act::tanh) tanh_backward(g, grad, y, dx);
}

}  // namespace tc::gpu
