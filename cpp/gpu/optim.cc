#include "gpu/optim.h"

#include <cmath>
#include <string>

namespace tc::gpu {

void sgd_step(Gpu& g, const Tensor& p, const Tensor& grad, const Tensor* buf, const cpu::SgdOptions& o) {
  const int64_t n = p.numel();
  const int64_t mode = 3 * (o.weight_decay != 0.0) + (o.momentum == 0.0 ? 0 : o.nesterov ? 2 : 1);
  g.launch(Launch("optim.cu", std::string("sgd_step_") + suffix(p.dtype))
               .grid1(blocks(n)).p(p).p(grad).p(o.momentum == 0.0 ? nullptr : buf).i(n).i(mode)
               .d(o.weight_decay).d(o.momentum).d(1.0 - o.dampening).d(-o.lr));
}

namespace {

// Keras's step size, in A (float for float32 and the halves, double for float64), with
// lr and the betas rounded through float32 as Keras does.
template <typename A>
double keras_alpha(const cpu::AdamOptions& o, int64_t step) {
  auto f32 = [](double d) { return A(float(d)); };
  const A t = A(step), klr = f32(o.lr);
  const A b1p = std::pow(f32(o.beta1), t), b2p = std::pow(f32(o.beta2), t);
  return double(klr * std::sqrt(A(1) - b2p) / (A(1) - b1p));
}

}  // namespace

void adam_step(Gpu& g, const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
               const cpu::AdamOptions& o) {
  const int64_t n = p.numel();
  const double t = double(step), w = 1.0 - o.beta1;
  const int64_t wd_mode = o.weight_decay == 0.0 ? 0 : o.decoupled_weight_decay ? 2 : 1;
  const double decay = 1.0 - o.lr * o.weight_decay;
  const double bc2 = std::sqrt(1.0 - std::pow(o.beta2, t));
  const double neg_step = -(o.lr / (1.0 - std::pow(o.beta1, t)));
  const bool f64 = p.dtype == DType::f64;
  const double wd32 = double(float(o.weight_decay));  // Keras holds it as float32
  const double klr = double(float(o.lr));
  const double alpha = f64 ? keras_alpha<double>(o, step) : keras_alpha<float>(o, step);
  g.launch(Launch("optim.cu", std::string("adam_step_") + suffix(p.dtype))
               .grid1(blocks(n)).p(p).p(grad).p(m).p(v).i(n).i(int64_t(o.flavor)).i(wd_mode)
               .d(o.weight_decay).d(decay).d(wd32).d(klr).i(w < 0.5).d(w).d(o.beta2).d(1.0 - o.beta2)
               .d(bc2).d(o.eps).d(neg_step).d(1.0 - o.beta1).d(alpha));
}

}  // namespace tc::gpu
