#include "gpu/batch_norm.h"

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

void batch_norm(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var) {
  int64_t outer, C, inner;
  bn_view(x, nhwc, outer, C, inner);
  g.launch(Launch("batch_norm.cu", name("batch_norm_stats", x.dtype)).grid1(std::min<int64_t>(C, 65535))
               .p(x).i(outer).i(C).i(inner).p(mean).p(var));
  g.launch(Launch("batch_norm.cu", name("batch_norm_apply", x.dtype)).grid1(blocks(x.numel()))
               .p(x).p(gamma).p(beta).p(mean).p(var).i(outer).i(C).i(inner).d(eps).p(y));
}

void batch_norm_inference(Gpu& g, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                          const Tensor& mean, const Tensor& var, double eps, const Tensor& y) {
  int64_t outer, C, inner;
  bn_view(x, nhwc, outer, C, inner);
  // the training pass's elementwise kernel, on the running statistics
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

void batch_norm_update_stats(Gpu& g, const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                             const Tensor& var, double momentum, int64_t count, bool unbiased, const Tensor& new_mean,
                             const Tensor& new_var) {
  const int64_t C = mean.numel();
  const double corr = unbiased && count > 1 ? double(count) / double(count - 1) : 1.0;  // as the CPU kernel
  g.launch(Launch("batch_norm.cu", name("batch_norm_update_stats", mean.dtype)).grid1(blocks(C))
               .p(running_mean).p(running_var).p(mean).p(var).i(C).d(momentum).d(corr).p(new_mean).p(new_var));
}

}  // namespace tc::gpu
