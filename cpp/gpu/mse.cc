#include "gpu/mse.h"

#include <string>

namespace tc::gpu {

void mse(Gpu& g, const Tensor& pred, const Tensor& target, int reduction, const Tensor& loss) {
  const int64_t n = pred.numel();
  const std::string sfx = suffix(pred.dtype);
  if (reduction == 0) {
    g.launch(Launch("mse.cu", "mse_none_" + sfx).grid1(blocks(n)).p(pred).p(target).p(loss).i(n));
    return;
  }
  const int64_t nb = blocks(n, 256, 1024);
  Tensor part = g.scratch(Shape{nb}, DType::f64);
  g.launch(Launch("mse.cu", "mse_partial_" + sfx).grid1(nb).p(pred).p(target).p(part).i(n));
  g.launch(Launch("mse.cu", "mse_finish_" + sfx).p(part).i(nb).d(reduction == 1 ? 1.0 / double(n) : 1.0).p(loss));
}

void mse_backward(Gpu& g, const Tensor& pred, const Tensor& target, const Tensor* grad, double grad_scale,
                  int reduction, const Tensor& dpred) {
  const int64_t n = pred.numel();
  const int64_t gmode = grad ? (reduction == 0 ? 2 : 1) : 0;
  const double scale = reduction == 1 ? grad_scale / double(n) : grad_scale;
  g.launch(Launch("mse.cu", std::string("mse_backward_") + suffix(pred.dtype))
               .grid1(blocks(n)).p(pred).p(target).p(grad).i(gmode).d(scale).p(dpred).i(n));
}

}  // namespace tc::gpu
