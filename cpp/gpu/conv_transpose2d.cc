#include "gpu/conv_transpose2d.h"

#include <algorithm>
#include <string>

#include "gpu/conv2d.h"

namespace tc::gpu {
namespace {

std::string name(const char* base, DType d) { return std::string(base) + "_" + suffix(d); }

}  // namespace

void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc) {
  const int64_t N = y.size(0), C = nhwc ? y.size(3) : y.size(1), P = y.numel() / (N * C);
  g.launch(Launch("conv_transpose2d.cu", name("conv_transpose2d_bias", y.dtype)).grid1(blocks(y.numel()))
               .p(y).p(bias).i(N).i(C).i(P).i(nhwc ? 1 : 0));
}

void conv_transpose2d(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& geo, bool nhwc,
                      const Tensor& y) {
  // conv2d_backward's plans read only the shape of their "x" when they compute dx alone: y
  // stands in (as on the CPU), and x plays the conv's output gradient.
  conv2d_backward(g, x, y, w, geo, nhwc, &y, nullptr, nullptr, nullptr, cpu::Act::none);
  if (bias) conv_transpose2d_bias(g, y, *bias, nhwc);
}

void conv_transpose2d_backward(Gpu& g, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& geo,
                               bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias) {
  if (dx) conv2d(g, grad, w, nullptr, geo, nhwc, *dx, cpu::Act::none);  // the conv y -> x itself
  if (dw) conv2d_backward(g, x, grad, w, geo, nhwc, nullptr, dw, nullptr, nullptr, cpu::Act::none);
  if (dbias) {  // over grad = dL/dy [N, Cout, OH*OW] / [N, OH*OW, Cout]: one block per channel
    const int64_t N = grad.size(0), C = nhwc ? grad.size(3) : grad.size(1), P = grad.numel() / (N * C);
    g.launch(Launch("conv2d.cu", name("conv2d_backward_bias", grad.dtype)).grid1(std::min<int64_t>(C, 65535))
                 .block1(256).p(grad).p(*dbias).i(N).i(C).i(P).i(nhwc ? 1 : 0));
  }
}

}  // namespace tc::gpu
