// Launch plans of the GAN ops (see gan_ops.h). Grid sizes: elementwise kernels grid-stride over
// their n items (blocks(n)); per-channel reductions one block of 256 per channel (capped).
#include "gpu/gan_ops.h"

#include <algorithm>
#include <string>

namespace tc::gpu {
namespace {

std::string name(const char* base, DType d) { return std::string(base) + "_" + suffix(d); }

// x as [outer, C, inner] (cpp/cpu/batch_norm.cc's view).
void bn_view(const Tensor& x, bool nhwc, int64_t& outer, int64_t& C, int64_t& inner) {
  if (x.ndim() == 2) outer = x.size(0), C = x.size(1), inner = 1;
  else if (nhwc) outer = x.size(0) * x.size(1) * x.size(2), C = x.size(3), inner = 1;
  else outer = x.size(0), C = x.size(1), inner = x.size(2) * x.size(3);
}

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

void binary_cross_entropy_with_logits(Gpu& g, const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits) {
  const int64_t M = logits.numel(), grid = blocks(M, 256, 1024);  // a fixed grid: deterministic sums
  const int64_t C = pos_weight ? pos_weight->numel() : 1;
  const double scale = reduction == 1 ? 1.0 / double(M) : 1.0;
  const bool none = reduction == 0;
  Tensor part;
  if (!none) part = g.scratch(Shape{grid}, DType::f64);
  g.launch(Launch("binary_cross_entropy_with_logits.cu", name("binary_cross_entropy_with_logits", logits.dtype))
               .grid1(grid).p(logits).p(targets).p(pos_weight).i(C).i(M).d(label_smoothing).d(scale)
               .p(none ? loss.data : nullptr).p(none ? nullptr : part.data).p(dlogits));
  if (!none)
    g.launch(Launch("binary_cross_entropy_with_logits.cu",
                    name("binary_cross_entropy_with_logits_finish", logits.dtype))
                 .grid1(1).p(part).i(grid).d(reduction == 1 ? 1.0 / double(M) : 1.0).p(loss));
}

void conv_transpose2d_bias(Gpu& g, const Tensor& y, const Tensor& bias, bool nhwc) {
  const int64_t N = y.size(0), C = nhwc ? y.size(3) : y.size(1), P = y.numel() / (N * C);
  g.launch(Launch("conv_transpose2d.cu", name("conv_transpose2d_bias", y.dtype)).grid1(blocks(y.numel()))
               .p(y).p(bias).i(N).i(C).i(P).i(nhwc ? 1 : 0));
}

void batch_norm(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var) {
  int64_t outer, C, inner;
  bn_view(x, nhwc, outer, C, inner);
  g.launch(Launch("batch_norm.cu", name("batch_norm_stats", x.dtype)).grid1(std::min<int64_t>(C, 65535))
               .p(x).i(outer).i(C).i(inner).p(mean).p(var));
  g.launch(Launch("batch_norm.cu", name("batch_norm_apply", x.dtype)).grid1(blocks(x.numel()))
               .p(x).p(gamma).p(beta).p(mean).p(var).i(outer).i(C).i(inner).d(eps).p(y));
}

void batch_norm_backward(Gpu& g, const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx, const Tensor* dgamma,
                         const Tensor* dbeta) {
  int64_t outer, C, inner;
  bn_view(x, nhwc, outer, C, inner);
  Tensor sums = g.scratch(Shape{2 * C}, DType::f64);
  g.launch(Launch("batch_norm.cu", name("batch_norm_backward_reduce", x.dtype)).grid1(std::min<int64_t>(C, 65535))
               .p(grad).p(x).p(mean).p(var).i(outer).i(C).i(inner).d(eps).p(sums));
  g.launch(Launch("batch_norm.cu", name("batch_norm_backward_apply", x.dtype)).grid1(blocks(x.numel()))
               .p(grad).p(x).p(gamma).p(mean).p(var).p(sums).i(outer).i(C).i(inner).d(eps).p(dx).p(dgamma)
               .p(dbeta));
}

}  // namespace tc::gpu
