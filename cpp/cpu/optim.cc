#include "cpu/optim.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/optim.h"
#include "python/gpu_py.h"


namespace tc::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;

// ---- SGD -------------------------------------------------------------------
// Scalars already in the tensor's dtype (torch casts its Python scalars the same way).
template <typename T>
struct SgdK {
  T wd, mom, one_minus_damp, neg_lr;
  int mode;  // 3 * (weight decay on) + (0: no momentum, 1: momentum, 2: nesterov)
};

// The order of operations follows torch's single-tensor SGD so results agree to rounding.
template <typename T, bool kWd, int kMom>
TC_INLINE void sgd_span(T* __restrict p, const T* __restrict g, T* __restrict b, const SgdK<T>& k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T pi = p[i], d = g[i];
    if (kWd) d = d + k.wd * pi;                       // grad.add(param, alpha=wd)
    if (kMom) {
      T bi = b[i] * k.mom + k.one_minus_damp * d;    // buf.mul_(m).add_(d, alpha=1-damp)
      b[i] = bi;
      d = kMom == 2 ? d + k.mom * bi : bi;           // nesterov: d.add(buf, alpha=m)
    }
    p[i] = pi + k.neg_lr * d;                        // param.add_(d, alpha=-lr)
  }
}

template <typename T>
TC_INLINE void sgd_any(T* p, const T* g, T* b, const SgdK<T>& k, int64_t n) {
  switch (k.mode) {
    case 0: sgd_span<T, false, 0>(p, g, b, k, n); break;
    case 1: sgd_span<T, false, 1>(p, g, b, k, n); break;
    case 2: sgd_span<T, false, 2>(p, g, b, k, n); break;
    case 3: sgd_span<T, true, 0>(p, g, b, k, n); break;
    case 4: sgd_span<T, true, 1>(p, g, b, k, n); break;
    default: sgd_span<T, true, 2>(p, g, b, k, n); break;
  }
}

TC_ISA_FN(sgd_f32, (float* p, const float* g, float* b, const SgdK<float>& k, int64_t n), (p, g, b, k, n),
          { sgd_any(p, g, b, k, n); })
TC_ISA_FN(sgd_f64, (double* p, const double* g, double* b, const SgdK<double>& k, int64_t n), (p, g, b, k, n),
          { sgd_any(p, g, b, k, n); })

// ---- Adam ------------------------------------------------------------------
// d rounded to float32. Through a volatile because GCC 12 -O3 was seen folding
// double(float(x)) back to x here (a float64 Keras run then drifted by 1e-10).
inline float round_to_float(double d) {
  volatile float f = static_cast<float>(d);
  return f;
}

enum WdMode { kNoWd = 0, kL2 = 1, kDecoupled = 2 };

template <typename T>
struct AdamK {
  int flavor, wd_mode;
  T wd;                 // L2: grad + wd * param
  T decay;              // torch decoupled: param * (1 - lr * wd)
  T k_wd, k_lr;         // keras decoupled: param - param * wd * lr
  bool lerp_small;      // torch's lerp: weight < 0.5 picks m + w (g - m), else g + (w - 1)(g - m)
  T lerp_coeff;
  T b2, one_minus_b2;   // torch: v * b2 + (1 - b2) g g
  T bc2_sqrt, eps, neg_step;  // torch: p + (-step) m / (sqrt(v) / bc2_sqrt + eps)
  T one_minus_b1;       // keras: m + (g - m)(1 - b1), v + (g^2 - v)(1 - b2)
  T alpha;              // keras: p - m alpha / (sqrt(v) + eps)
};

template <typename T, int kWd>
TC_INLINE void adam_torch(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                          const AdamK<T>& k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T pi = p[i], gi = g[i], mi = m[i];
    if (kWd == kL2) gi = gi + k.wd * pi;
    if (kWd == kDecoupled) pi = pi * k.decay;
    mi = (k.lerp_small ? mi : gi) + k.lerp_coeff * (gi - mi);  // exp_avg.lerp_(grad, 1 - b1)
    T vi = v[i] * k.b2 + k.one_minus_b2 * gi * gi;            // mul_(b2).addcmul_(g, g, 1 - b2)
    T denom = std::sqrt(vi) / k.bc2_sqrt + k.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + k.neg_step * mi / denom;                        // addcdiv_(m, denom, -step)
  }
}

template <typename T, int kWd>
TC_INLINE void adam_keras(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                          const AdamK<T>& k, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T pi = p[i], gi = g[i], mi = m[i], vi = v[i];
    if (kWd == kL2) gi = gi + k.wd * pi;
    if (kWd == kDecoupled) pi = pi - pi * k.k_wd * k.k_lr;  // the base optimizer's weight decay
    mi = mi + (gi - mi) * k.one_minus_b1;
    vi = vi + (gi * gi - vi) * k.one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - mi * k.alpha / (std::sqrt(vi) + k.eps);
  }
}

template <typename T>
TC_INLINE void adam_any(T* p, const T* g, T* m, T* v, const AdamK<T>& k, int64_t n) {
  switch (k.flavor * 3 + k.wd_mode) {
    case 0: adam_torch<T, kNoWd>(p, g, m, v, k, n); break;
    case 1: adam_torch<T, kL2>(p, g, m, v, k, n); break;
    case 2: adam_torch<T, kDecoupled>(p, g, m, v, k, n); break;
    case 3: adam_keras<T, kNoWd>(p, g, m, v, k, n); break;
    case 4: adam_keras<T, kL2>(p, g, m, v, k, n); break;
    default: adam_keras<T, kDecoupled>(p, g, m, v, k, n); break;
  }
}

TC_ISA_FN(adam_f32, (float* p, const float* g, float* m, float* v, const AdamK<float>& k, int64_t n),
          (p, g, m, v, k, n), { adam_any(p, g, m, v, k, n); })
TC_ISA_FN(adam_f64, (double* p, const double* g, double* m, double* v, const AdamK<double>& k, int64_t n),
          (p, g, m, v, k, n), { adam_any(p, g, m, v, k, n); })

template <typename T>
void sgd_run(const Tensor& param, const Tensor& grad, const Tensor* buf, const SgdOptions& o) {
  SgdK<T> k;
  k.wd = T(o.weight_decay);
  k.mom = T(o.momentum);
  k.one_minus_damp = T(1.0 - o.dampening);
  k.neg_lr = T(-o.lr);
  k.mode = 3 * (o.weight_decay != 0.0) + (o.momentum == 0.0 ? 0 : o.nesterov ? 2 : 1);
  T* p = param.ptr<T>();
  const T* g = grad.ptr<T>();
  T* b = k.mode % 3 ? buf->ptr<T>() : nullptr;
  parallel_for(param.numel(), kGrain, [&](int64_t a, int64_t e) {
    if constexpr (std::is_same_v<T, float>) sgd_f32(p + a, g + a, b ? b + a : nullptr, k, e - a);
    else sgd_f64(p + a, g + a, b ? b + a : nullptr, k, e - a);
  });
}

template <typename T>
void adam_run(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
              const AdamOptions& o) {
  AdamK<T> k{};
  k.flavor = int(o.flavor);
  k.wd_mode = o.weight_decay == 0.0 ? kNoWd : o.decoupled_weight_decay ? kDecoupled : kL2;
  k.wd = T(o.weight_decay);
  k.eps = T(o.eps);
  const double t = double(step);
  if (o.flavor == AdamFlavor::torch) {
    // torch computes these in Python floats (double) and casts them at use.
    const double w = 1.0 - o.beta1;
    k.lerp_small = w < 0.5;
    k.lerp_coeff = k.lerp_small ? T(w) : T(w) - T(1);
    k.decay = T(1.0 - o.lr * o.weight_decay);
    k.b2 = T(o.beta2);
    k.one_minus_b2 = T(1.0 - o.beta2);
    k.bc2_sqrt = T(std::sqrt(1.0 - std::pow(o.beta2, t)));
    k.neg_step = T(-(o.lr / (1.0 - std::pow(o.beta1, t))));
  } else {
    // Keras computes its step size in the variable's dtype, from a float32
    // learning-rate variable and from betas and weight decay that ops.cast turns
    // into float32 tensors first: round them the same way (exact for float32).
    auto f32 = [](double d) { return T(round_to_float(d)); };
    const T lr = f32(o.lr), b1p = std::pow(f32(o.beta1), T(t)), b2p = std::pow(f32(o.beta2), T(t));
    k.alpha = lr * std::sqrt(T(1) - b2p) / (T(1) - b1p);
    k.one_minus_b1 = T(1.0 - o.beta1);  // Python floats, exact in the variable's dtype
    k.one_minus_b2 = T(1.0 - o.beta2);
    k.k_wd = f32(o.weight_decay);
    k.k_lr = lr;
  }
  T* pp = param.ptr<T>();
  const T* gp = grad.ptr<T>();
  T* mp = m.ptr<T>();
  T* vp = v.ptr<T>();
  parallel_for(param.numel(), kGrain, [&](int64_t a, int64_t e) {
    if constexpr (std::is_same_v<T, float>) adam_f32(pp + a, gp + a, mp + a, vp + a, k, e - a);
    else adam_f64(pp + a, gp + a, mp + a, vp + a, k, e - a);
  });
}

void check_state(const char* op, const char* arg, const Tensor& t, const Tensor& param) {
  check_input_like(op, arg, t, param);
  check_shape(op, arg, t, param.shape);
}

}  // namespace

void sgd_step_check(const Tensor& param, const Tensor& grad, const Tensor* buf, const SgdOptions& o) {
  const char* op = "sgd_step";
  check_input(op, "param", param);
  check_state(op, "grad", grad, param);
  if (!(o.lr >= 0)) value_error(op, "lr", "must be >= 0, got ", o.lr);
  if (!(o.momentum >= 0)) value_error(op, "momentum", "must be >= 0, got ", o.momentum);
  if (!std::isfinite(o.dampening)) value_error(op, "dampening", "must be finite, got ", o.dampening);
  if (!(o.weight_decay >= 0)) value_error(op, "weight_decay", "must be >= 0, got ", o.weight_decay);
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    value_error(op, "nesterov", "needs momentum > 0 and dampening = 0 (as torch.optim.SGD)");
  if (o.momentum != 0 && !buf) value_error(op, "momentum_buf", "momentum != 0 needs a momentum buffer");
  if (buf) check_state(op, "momentum_buf", *buf, param);
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor* buf, const SgdOptions& o) {
  TC_FLOAT_TYPES("sgd_step", param.dtype, T, sgd_run<T>(param, grad, buf, o));
}

void adam_step_check(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
                     const AdamOptions& o) {
  const char* op = "adam_step";
  check_input(op, "param", param);
  check_state(op, "grad", grad, param);
  check_state(op, "m", m, param);
  check_state(op, "v", v, param);
  if (step < 1) value_error(op, "step", "must be >= 1 (1-based, after the increment), got ", step);
  if (!(o.lr >= 0)) value_error(op, "lr", "must be >= 0, got ", o.lr);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) value_error(op, "beta1", "must be in [0, 1), got ", o.beta1);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) value_error(op, "beta2", "must be in [0, 1), got ", o.beta2);
  if (!(o.eps >= 0)) value_error(op, "eps", "must be >= 0, got ", o.eps);
  if (!(o.weight_decay >= 0)) value_error(op, "weight_decay", "must be >= 0, got ", o.weight_decay);
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, int64_t step,
               const AdamOptions& o) {
  TC_FLOAT_TYPES("adam_step", param.dtype, T, adam_run<T>(param, grad, m, v, step, o));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

// A real number (int or float, numpy scalars too; not bool, not str).
double number(pyb::handle v, const char* op, const char* name) {
  if (!PyBool_Check(v.ptr()) && (PyFloat_Check(v.ptr()) || PyLong_Check(v.ptr()) ||
                                 (!PyUnicode_Check(v.ptr()) && PyNumber_Check(v.ptr())))) {
    double d = PyFloat_AsDouble(v.ptr());
    if (!(d == -1.0 && PyErr_Occurred())) return d;
    PyErr_Clear();
  }
  type_error(op, name, "expected a real number, got ", std::string(pyb::repr(v)));
}

int64_t integer(pyb::handle v, const char* op, const char* name) {
  if (!PyBool_Check(v.ptr()) && PyIndex_Check(v.ptr())) {
    PyObject* idx = PyNumber_Index(v.ptr());
    if (idx) {
      long long i = PyLong_AsLongLong(idx);
      Py_DECREF(idx);
      if (!(i == -1 && PyErr_Occurred())) return i;
    }
    PyErr_Clear();
  }
  type_error(op, name, "expected an int, got ", std::string(pyb::repr(v)));
}

// True/False, or a numpy bool.
bool flag(pyb::handle v, const char* op, const char* name) {
  if (PyBool_Check(v.ptr())) return v.ptr() == Py_True;
  if (pyb::hasattr(v, "dtype") && pyb::hasattr(v.attr("dtype"), "kind") &&
      pyb::str(v.attr("dtype").attr("kind")).cast<std::string>() == "b" && pyb::len(pyb::tuple(v.attr("shape"))) == 0)
    return PyObject_IsTrue(v.ptr()) == 1;
  type_error(op, name, "expected a bool, got ", std::string(pyb::repr(v)));
}

// alloc: the caller's allocator (None for NumPy): on the GPU it names the launcher and stream.
void sgd_py(pyb::handle param, pyb::handle grad, pyb::handle buf, pyb::handle lr, pyb::handle momentum,
            pyb::handle dampening, pyb::handle weight_decay, pyb::handle nesterov, pyb::handle allocator) {
  const char* op = "sgd_step";
  auto p = py::arg(param, op, "param");
  auto g = py::arg(grad, op, "grad");
  auto b = py::optional_arg(buf, op, "momentum_buf");
  cpu::SgdOptions o;
  o.lr = number(lr, op, "lr");
  o.momentum = number(momentum, op, "momentum");
  o.dampening = number(dampening, op, "dampening");
  o.weight_decay = number(weight_decay, op, "weight_decay");
  o.nesterov = flag(nesterov, op, "nesterov");
  py::device_ready(allocator, p.t, op, "param");
  cpu::sgd_step_check(p.t, g.t, b ? &b->t : nullptr, o);
  // In place: param (and the momentum buffer) are in-outs; half state like torch's (the state
  // has param's dtype), updated in float32 and rounded once per step.
  py::run(allocator, p.t, op, "param", {&p.t, &g.t, b ? &b->t : nullptr}, {&p.t, b ? &b->t : nullptr},
          [&] { cpu::sgd_step(p.t, g.t, b ? &b->t : nullptr, o); },
          [&](gpu::Gpu& gp) { gpu::sgd_step(gp, p.t, g.t, b ? &b->t : nullptr, o); });
}

void adam_py(pyb::handle param, pyb::handle grad, pyb::handle m, pyb::handle v, pyb::handle step, pyb::handle lr,
             pyb::handle beta1, pyb::handle beta2, pyb::handle eps, pyb::handle weight_decay,
             pyb::handle decoupled, pyb::handle flavor, pyb::handle allocator) {
  const char* op = "adam_step";
  auto p = py::arg(param, op, "param");
  auto g = py::arg(grad, op, "grad");
  auto mm = py::arg(m, op, "m");
  auto vv = py::arg(v, op, "v");
  const int64_t t = integer(step, op, "step");
  cpu::AdamOptions o;
  o.lr = number(lr, op, "lr");
  o.beta1 = number(beta1, op, "beta1");
  o.beta2 = number(beta2, op, "beta2");
  o.eps = number(eps, op, "eps");
  o.weight_decay = number(weight_decay, op, "weight_decay");
  o.decoupled_weight_decay = flag(decoupled, op, "decoupled_weight_decay");
  if (!PyUnicode_Check(flavor.ptr()))
    type_error(op, "flavor", "expected 'torch' or 'keras', got ", std::string(pyb::repr(flavor)));
  o.flavor = static_cast<cpu::AdamFlavor>(choose(op, "flavor", flavor.cast<std::string>(), {"torch", "keras"}));
  py::device_ready(allocator, p.t, op, "param");
  cpu::adam_step_check(p.t, g.t, mm.t, vv.t, t, o);
  py::run(allocator, p.t, op, "param", {&p.t, &g.t, &mm.t, &vv.t}, {&p.t, &mm.t, &vv.t},
          [&] { cpu::adam_step(p.t, g.t, mm.t, vv.t, t, o); },
          [&](gpu::Gpu& gp) { gpu::adam_step(gp, p.t, g.t, mm.t, vv.t, t, o); });
}

}  // namespace

TC_BIND(optim) {
  m.def("sgd_step", &sgd_py, pyb::arg("param"), pyb::arg("grad"), pyb::arg("momentum_buf"), pyb::arg("lr"),
        pyb::arg("momentum"), pyb::arg("dampening"), pyb::arg("weight_decay"), pyb::arg("nesterov"),
        pyb::arg("alloc") = pyb::none());
  m.def("adam_step", &adam_py, pyb::arg("param"), pyb::arg("grad"), pyb::arg("m"), pyb::arg("v"),
        pyb::arg("step"), pyb::arg("lr"), pyb::arg("beta1"), pyb::arg("beta2"), pyb::arg("eps"),
        pyb::arg("weight_decay"), pyb::arg("decoupled_weight_decay"), pyb::arg("flavor"),
        pyb::arg("alloc") = pyb::none());
}
