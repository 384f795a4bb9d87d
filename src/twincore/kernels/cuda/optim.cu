// Fused optimizer steps, in place, elementwise over n contiguous elements. The host
// resolves the scalar constants exactly as cpp/cpu/optim.cc does (torch's and Keras's
// order of operations) and passes them as doubles; they are rounded to the
// accumulator type here (float for f32/f16/bf16 params, double for f64).
#include "common.cuh"

// mode = 3 * (weight decay on) + (0: no momentum, 1: momentum, 2: nesterov); buf may
// be null when there is no momentum.
template <typename T>
__device__ __forceinline__ void sgd_body(T* p, const T* g, T* buf, i64 n, i64 mode, double wd_,
                                         double mom_, double one_minus_damp_, double neg_lr_) {
  typedef typename Acc<T>::type A;
  const A wd = A(wd_), mom = A(mom_), omd = A(one_minus_damp_), neg_lr = A(neg_lr_);
  const bool use_wd = mode >= 3;
  const int km = int(mode % 3);
  TC_GRID_LOOP(i, n) {
    A pi = ld(p, i), d = ld(g, i);
    if (use_wd) d = d + wd * pi;
    if (km) {
      A bi = ld(buf, i) * mom + omd * d;
      st(buf, i, bi);
      d = km == 2 ? d + mom * bi : bi;
    }
    st(p, i, pi + neg_lr * d);
  }
}

// flavor 0 torch, 1 keras; wd_mode 0 none, 1 L2 (grad + wd p), 2 decoupled.
template <typename T>
__device__ __forceinline__ void adam_body(T* p, const T* g, T* m, T* v, i64 n, i64 flavor, i64 wd_mode,
                                          double wd_, double decay_, double k_wd_, double k_lr_,
                                          i64 lerp_small, double lerp_w, double b2_, double omb2_,
                                          double bc2_sqrt_, double eps_, double neg_step_,
                                          double omb1_, double alpha_) {
  typedef typename Acc<T>::type A;
  const A wd = A(wd_), decay = A(decay_), k_wd = A(k_wd_), k_lr = A(k_lr_);
  const A coeff = lerp_small ? A(lerp_w) : A(lerp_w) - A(1);
  const A b2 = A(b2_), omb2 = A(omb2_), bc2 = A(bc2_sqrt_), eps = A(eps_), neg_step = A(neg_step_);
  const A omb1 = A(omb1_), alpha = A(alpha_);
  TC_GRID_LOOP(i, n) {
    A pi = ld(p, i), gi = ld(g, i), mi = ld(m, i), vi = ld(v, i);
    if (wd_mode == 1) gi = gi + wd * pi;
    if (flavor == 0) {
      if (wd_mode == 2) pi = pi * decay;
      mi = (lerp_small ? mi : gi) + coeff * (gi - mi);  // exp_avg.lerp_(grad, 1 - b1)
      vi = vi * b2 + omb2 * gi * gi;
      A denom = tc_sqrt(vi) / bc2 + eps;
      pi = pi + neg_step * mi / denom;
    } else {
      if (wd_mode == 2) pi = pi - pi * k_wd * k_lr;
      mi = mi + (gi - mi) * omb1;
      vi = vi + (gi * gi - vi) * omb2;
      pi = pi - mi * alpha / (tc_sqrt(vi) + eps);
    }
    st(m, i, mi);
    st(v, i, vi);
    st(p, i, pi);
  }
}

#define TC_OPTIM(S, T)                                                                             \
  extern "C" __global__ void sgd_step_##S(T* p, const T* g, T* buf, i64 n, i64 mode, double wd,    \
                                          double mom, double one_minus_damp, double neg_lr) {      \
    sgd_body(p, g, buf, n, mode, wd, mom, one_minus_damp, neg_lr);                                 \
  }                                                                                                \
  extern "C" __global__ void adam_step_##S(T* p, const T* g, T* m, T* v, i64 n, i64 flavor,        \
      i64 wd_mode, double wd, double decay, double k_wd, double k_lr, i64 lerp_small,              \
      double lerp_w, double b2, double omb2, double bc2_sqrt, double eps, double neg_step,         \
      double omb1, double alpha) {                                                                 \
    adam_body(p, g, m, v, n, flavor, wd_mode, wd, decay, k_wd, k_lr, lerp_small, lerp_w, b2, omb2, \
              bc2_sqrt, eps, neg_step, omb1, alpha);                                               \
  }                                                                                                \
  TC_REGISTER(sgd_step_##S) TC_REGISTER(adam_step_##S)
TC_FOR_FLOATS(TC_OPTIM)
#undef TC_OPTIM
