#include "gpu/global_avg_pool2d.h"

#include <string>

namespace tc::gpu {

void global_avg_pool2d(Gpu& g, const Tensor& x, bool nhwc, const Tensor& y) {
  const int64_t N = x.size(0), C = nhwc ? x.size(3) : x.size(1);
  const int64_t HW = nhwc ? x.size(1) * x.size(2) : x.size(2) * x.size(3);
  const int64_t work = N * C * (nhwc ? 1 : 32);  // NCHW: a warp per plane
  g.launch(Launch("global_avg_pool2d.cu", std::string("global_avg_pool2d_") + suffix(x.dtype))
               .grid1(blocks(work)).p(x).p(y).i(N).i(C).i(HW).i(nhwc));
}

void global_avg_pool2d_backward(Gpu& g, const Tensor& grad, bool nhwc, const Tensor& dx) {
  const int64_t N = dx.size(0), C = nhwc ? dx.size(3) : dx.size(1);
  const int64_t HW = nhwc ? dx.size(1) * dx.size(2) : dx.size(2) * dx.size(3);
  g.launch(Launch("global_avg_pool2d.cu", std::string("global_avg_pool2d_backward_") + suffix(grad.dtype))
               .grid1(blocks(dx.numel())).p(grad).p(dx).i(N).i(C).i(HW).i(nhwc));
}

}  // namespace tc::gpu
