// Fused optimizer steps: one parallel, vectorized pass over param, grad and the
// state buffers, updated in place. param, grad, momentum_buf / m / v: same shape,
// same float dtype, contiguous, non-empty.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tc::cpu {

// torch.optim.SGD's rule; the momentum buffer starts at zero (see optim.py).
//   d = grad + weight_decay * param
//   buf = momentum * buf + (1 - dampening) * d           (momentum != 0)
//   d = nesterov ? d + momentum * buf : buf               (momentum != 0)
//   param -= lr * d
struct SgdOptions {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};
// buf may be nullptr when momentum == 0 (ignored then even if given).
void sgd_step_check(const Tensor& param, const Tensor& grad, const Tensor* buf, const SgdOptions& o);
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor* buf, const SgdOptions& o);

enum class AdamFlavor { torch = 0, keras = 1 };
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;
  AdamFlavor flavor = AdamFlavor::torch;
};
// step: 1-based count of this step (after the increment).
void adam_step_check(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
                     const AdamOptions& o);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
               const AdamOptions& o);

}  // namespace tc::cpu
