#include "cpu/batch_norm.h"

#include <cmath>
#include <optional>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/batch_norm.h"
#include "python/bridge.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

// x viewed as [outer, C, inner]: NCHW [N, C, HW] (inner = HW), NHWC / rank 2 [N*HW, C] (inner = 1).
struct View {
  int64_t outer, C, inner;
  bool last;  // channel axis last
};

View view_of(const Tensor& x, bool nhwc) {
  if (x.ndim() == 2) return {x.size(0), x.size(1), 1, true};
  if (nhwc) return {x.size(0) * x.size(1) * x.size(2), x.size(3), 1, true};
  return {x.size(0), x.size(1), x.size(2) * x.size(3), false};
}

// Rows per block of the channel-last sums: each block's partial sums are one slot, added in order.
constexpr int64_t kRows = 256;
constexpr int kLanes = 8;

struct Two {
  double a, b;
};

// out[c] (and out[C + c] when NS == 2) = sums over channel c of f(i, c) -> Two, in double, in a
// fixed order: channel-first planes summed in kLanes lanes; channel-last rows in blocks of kRows
// (vectorizes across channels), the blocks added in order.
template <int NS, typename F>
void channel_sums(const View& v, double* out, F f) {
  const int64_t C = v.C;
  std::fill(out, out + NS * C, 0.0);
  if (!v.last) {
    parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double la[kLanes] = {}, lb[kLanes] = {}, ra = 0, rb = 0;
        for (int64_t n = 0; n < v.outer; ++n) {
          const int64_t base = (n * C + c) * v.inner;
          int64_t i = 0;
          for (; i + kLanes <= v.inner; i += kLanes)
            for (int k = 0; k < kLanes; ++k) {
              const Two t = f(base + i + k, c);
              la[k] += t.a;
              if (NS == 2) lb[k] += t.b;
            }
          for (; i < v.inner; ++i) {
            const Two t = f(base + i, c);
            ra += t.a;
            if (NS == 2) rb += t.b;
          }
        }
        for (int k = 0; k < kLanes; ++k) ra += la[k], rb += lb[k];
        out[c] = ra;
        if (NS == 2) out[C + c] = rb;
      }
    });
    return;
  }
  const int64_t blocks = (v.outer + kRows - 1) / kRows;
  std::vector<double> part(blocks * NS * C, 0.0);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* pa = part.data() + b * NS * C;
      double* pb = pa + C;
      const int64_t r1 = std::min(v.outer, (b + 1) * kRows);
      for (int64_t r = b * kRows; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const Two t = f(r * C + c, c);
          pa[c] += t.a;
          if (NS == 2) pb[c] += t.b;
        }
    }
  });
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t k = 0; k < NS * C; ++k) out[k] += part[b * NS * C + k];
}

// out[i] = f(i, c) for every element: per plane (channel-first) or per row (channel-last).
template <typename T, typename F>
void per_element(const View& v, T* out, F f) {
  const int64_t C = v.C;
  if (!v.last) {
    parallel_for(v.outer * C, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p % C, base = p * v.inner;
        for (int64_t i = 0; i < v.inner; ++i) out[base + i] = f(base + i, c);
      }
    });
    return;
  }
  parallel_for(v.outer, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) out[r * C + c] = f(r * C + c, c);
  });
}

// y = (x - mean[c]) * scale[c] + shift[c] with scale = invstd * gamma, shift = beta.
template <typename T>
void normalize(const View& v, const T* x, T* y, const std::vector<T>& mean, const std::vector<T>& scale,
               const std::vector<T>& shift) {
  const T *m = mean.data(), *sc = scale.data(), *sh = shift.data();
  per_element<T>(v, y, [=](int64_t i, int64_t c) { return (x[i] - m[c]) * sc[c] + sh[c]; });
}

template <typename T>
void coefficients(const View& v, const Tensor* gamma, const Tensor* beta, const T* mean, const T* var, double eps,
                  std::vector<T>& m, std::vector<T>& scale, std::vector<T>& shift) {
  m.assign(mean, mean + v.C);
  scale.resize(v.C);
  shift.resize(v.C);
  for (int64_t c = 0; c < v.C; ++c) {
    const T invstd = T(1) / std::sqrt(var[c] + T(eps));
    scale[c] = invstd * (gamma ? gamma->ptr<T>()[c] : T(1));
    shift[c] = beta ? beta->ptr<T>()[c] : T(0);
  }
}

template <typename T>
void train(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps, const Tensor& y,
           const Tensor& mean, const Tensor& var) {
  const View v = view_of(x, nhwc);
  const T* X = x.ptr<T>();
  const double M = double(v.outer * v.inner);
  std::vector<double> s(v.C), q(v.C);
  channel_sums<1>(v, s.data(), [=](int64_t i, int64_t) { return Two{double(X[i]), 0.0}; });
  T* mu = mean.ptr<T>();
  for (int64_t c = 0; c < v.C; ++c) mu[c] = T(s[c] / M);
  // The variance about the rounded mean, two-pass (no cancellation for large means).
  channel_sums<1>(v, q.data(), [=](int64_t i, int64_t c) {
    const double d = double(X[i]) - double(mu[c]);
    return Two{d * d, 0.0};
  });
  T* va = var.ptr<T>();
  for (int64_t c = 0; c < v.C; ++c) va[c] = T(q[c] / M);
  std::vector<T> m, scale, shift;
  coefficients<T>(v, gamma, beta, mu, va, eps, m, scale, shift);
  normalize<T>(v, X, y.ptr<T>(), m, scale, shift);
}

template <typename T>
void infer(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, const Tensor& mean,
           const Tensor& var, double eps, const Tensor& y) {
  const View v = view_of(x, nhwc);
  std::vector<T> m, scale, shift;
  coefficients<T>(v, gamma, beta, mean.ptr<T>(), var.ptr<T>(), eps, m, scale, shift);
  normalize<T>(v, x.ptr<T>(), y.ptr<T>(), m, scale, shift);
}

template <typename T>
void backward(const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor& mean,
              const Tensor& var, double eps, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta) {
  const View v = view_of(x, nhwc);
  const T *G = grad.ptr<T>(), *X = x.ptr<T>(), *mu = mean.ptr<T>(), *va = var.ptr<T>();
  std::vector<T> invstd(v.C);
  for (int64_t c = 0; c < v.C; ++c) invstd[c] = T(1) / std::sqrt(va[c] + T(eps));
  // sum(grad) and sum(grad * xh) per channel, in one pass.
  std::vector<double> s(2 * v.C);
  const T* inv = invstd.data();
  channel_sums<2>(v, s.data(), [=](int64_t i, int64_t c) {
    return Two{double(G[i]), double(G[i]) * double((X[i] - mu[c]) * inv[c])};
  });
  const double* sg = s.data();
  const double* sgx = s.data() + v.C;
  if (dbeta)
    for (int64_t c = 0; c < v.C; ++c) dbeta->ptr<T>()[c] = T(sg[c]);
  if (dgamma)
    for (int64_t c = 0; c < v.C; ++c) dgamma->ptr<T>()[c] = T(sgx[c]);
  if (!dx) return;
  const double M = double(v.outer * v.inner);
  std::vector<T> k(v.C), a(v.C), b(v.C);  // dx = k * (grad - a - xh * b)
  for (int64_t c = 0; c < v.C; ++c) {
    const T gm = gamma ? gamma->ptr<T>()[c] : T(1);
    k[c] = invstd[c] * gm;
    a[c] = T(sg[c] / M);
    b[c] = T(sgx[c] / M);
  }
  const T *kk = k.data(), *aa = a.data(), *bb = b.data();
  per_element<T>(v, dx->ptr<T>(), [=](int64_t i, int64_t c) {
    return kk[c] * (G[i] - aa[c] - (X[i] - mu[c]) * inv[c] * bb[c]);
  });
}

}  // namespace

int64_t batch_norm_check(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                         const Tensor* mean, const Tensor* var, double eps, const char* op) {
  check_input(op, "x", x);
  if (x.ndim() != 2 && x.ndim() != 4)
    value_error(op, "x", "expected [N, C] or an image batch [N, C, H, W] / [N, H, W, C], got shape ",
                x.shape.str());
  const int64_t C = x.ndim() == 2 ? x.size(1) : (nhwc ? x.size(3) : x.size(1));
  const Tensor* params[4] = {gamma, beta, mean, var};
  const char* names[4] = {"gamma", "beta", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i)
    if (params[i]) {
      check_input_like(op, names[i], *params[i], x);
      check_shape(op, names[i], *params[i], Shape{C});
    }
  if (!(eps > 0.0) || !std::isfinite(eps)) value_error(op, "eps", "expected a positive number, got ", eps);
  return C;  // (the device is the binding's business: py::run; Meta inputs get their shapes)
}

void batch_norm(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta, double eps,
                const Tensor& y, const Tensor& mean, const Tensor& var) {
  TC_FLOAT_TYPES("batch_norm", x.dtype, T, train<T>(x, nhwc, gamma, beta, eps, y, mean, var));
}

void batch_norm_inference(const Tensor& x, bool nhwc, const Tensor* gamma, const Tensor* beta,
                          const Tensor& mean, const Tensor& var, double eps, const Tensor& y) {
  TC_FLOAT_TYPES("batch_norm", x.dtype, T, infer<T>(x, nhwc, gamma, beta, mean, var, eps, y));
}

void batch_norm_backward(const Tensor& grad, const Tensor& x, bool nhwc, const Tensor* gamma,
                         const Tensor& mean, const Tensor& var, double eps, const Tensor* dx,
                         const Tensor* dgamma, const Tensor* dbeta) {
  TC_FLOAT_TYPES("batch_norm_backward", x.dtype, T,
                 backward<T>(grad, x, nhwc, gamma, mean, var, eps, dx, dgamma, dbeta));
}

void batch_norm_update_stats(const Tensor& running_mean, const Tensor& running_var, const Tensor& mean,
                             const Tensor& var, double momentum, int64_t count, bool unbiased,
                             const Tensor& new_mean, const Tensor& new_var) {
  TC_FLOAT_TYPES("batch_norm_update_stats", mean.dtype, T, {
    const T m = T(momentum), keep = T(1) - T(momentum);
    const T corr = unbiased && count > 1 ? T(double(count) / double(count - 1)) : T(1);
    for (int64_t c = 0; c < mean.numel(); ++c) {
      new_mean.ptr<T>()[c] = keep * running_mean.ptr<T>()[c] + m * mean.ptr<T>()[c];
      new_var.ptr<T>()[c] = keep * running_var.ptr<T>()[c] + m * (var.ptr<T>()[c] * corr);
    }
  });
}

void batch_norm_update_stats_check(const Tensor& rm, const Tensor& rv, const Tensor& mean, const Tensor& var,
                                   double mom, int64_t count) {
  const char* op = "batch_norm_update_stats";
  check_input(op, "running_mean", rm);
  check_rank(op, "running_mean", rm, 1, 1);
  const Tensor* others[3] = {&rv, &mean, &var};
  const char* names[3] = {"running_var", "mean", "var"};
  for (int i = 0; i < 3; ++i) {
    check_input_like(op, names[i], *others[i], rm);
    check_shape(op, names[i], *others[i], rm.shape);
  }
  if (!(mom >= 0.0 && mom <= 1.0)) value_error(op, "momentum", "expected a value in [0, 1], got ", mom);
  if (count < 1) value_error(op, "count", "expected >= 1, got ", count);
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

Tensor* opt(std::optional<py::Arg>& a) { return a ? &a->t : nullptr; }
Tensor* opt(std::optional<py::Out>& o) { return o ? &o->t : nullptr; }

}  // namespace

TC_BIND(batch_norm) {
  // Training: (y, mean, var) with the batch's mean and biased variance [C].
  m.def("batch_norm", [](pyb::handle x_obj, pyb::handle g_obj, pyb::handle b_obj, pyb::handle eps_obj,
                         const std::string& layout, pyb::handle allocator) {
    const char* op = "batch_norm";
    auto x = py::arg(x_obj, op, "x");
    auto g = py::optional_arg(g_obj, op, "gamma");
    auto b = py::optional_arg(b_obj, op, "beta");
    const bool nhwc = py::nhwc_from(layout, op);
    const double eps = py::float_from(eps_obj, op, "eps");
    const int64_t C = cpu::batch_norm_check(x.t, nhwc, opt(g), opt(b), nullptr, nullptr, eps, op);
    auto y = py::alloc(allocator, x.t.shape, x.t.dtype, op);
    auto mean = py::alloc(allocator, Shape{C}, x.t.dtype, op);
    auto var = py::alloc(allocator, Shape{C}, x.t.dtype, op);
    py::run(allocator, x.t, op, "x", {&x.t, opt(g), opt(b)}, {&y.t, &mean.t, &var.t},
            [&] { cpu::batch_norm(x.t, nhwc, opt(g), opt(b), eps, y.t, mean.t, var.t); },
            [&](gpu::Gpu& gg) { gpu::batch_norm(gg, x.t, nhwc, opt(g), opt(b), eps, y.t, mean.t, var.t); });
    return pyb::make_tuple(y.obj, mean.obj, var.obj);
  });
  m.def("batch_norm_inference", [](pyb::handle x_obj, pyb::handle g_obj, pyb::handle b_obj, pyb::handle m_obj,
                                   pyb::handle v_obj, pyb::handle eps_obj, const std::string& layout,
                                   pyb::handle allocator) {
    const char* op = "batch_norm_inference";
    auto x = py::arg(x_obj, op, "x");
    auto g = py::optional_arg(g_obj, op, "gamma");
    auto b = py::optional_arg(b_obj, op, "beta");
    auto mean = py::arg(m_obj, op, "running_mean");
    auto var = py::arg(v_obj, op, "running_var");
    const bool nhwc = py::nhwc_from(layout, op);
    const double eps = py::float_from(eps_obj, op, "eps");
    cpu::batch_norm_check(x.t, nhwc, opt(g), opt(b), &mean.t, &var.t, eps, op);
    auto y = py::alloc(allocator, x.t.shape, x.t.dtype, op);
    py::run(allocator, x.t, op, "x", {&x.t, opt(g), opt(b), &mean.t, &var.t}, {&y.t},
            [&] { cpu::batch_norm_inference(x.t, nhwc, opt(g), opt(b), mean.t, var.t, eps, y.t); },
            [&](gpu::Gpu& gg) { gpu::batch_norm_inference(gg, x.t, nhwc, opt(g), opt(b), mean.t, var.t, eps, y.t); });
    return y.obj;
  });
  m.def("batch_norm_backward", [](pyb::handle gr_obj, pyb::handle x_obj, pyb::handle g_obj, pyb::handle m_obj,
                                  pyb::handle v_obj, pyb::handle eps_obj, const std::string& layout, bool need_x,
                                  bool need_gamma, bool need_beta, pyb::handle allocator) {
    const char* op = "batch_norm_backward";
    auto gr = py::arg(gr_obj, op, "grad");
    auto x = py::arg(x_obj, op, "x");
    auto g = py::optional_arg(g_obj, op, "gamma");
    auto mean = py::arg(m_obj, op, "mean");
    auto var = py::arg(v_obj, op, "var");
    const bool nhwc = py::nhwc_from(layout, op);
    const double eps = py::float_from(eps_obj, op, "eps");
    const int64_t C = cpu::batch_norm_check(x.t, nhwc, opt(g), nullptr, &mean.t, &var.t, eps, op);
    check_input_like(op, "grad", gr.t, x.t);
    check_shape(op, "grad", gr.t, x.t.shape);
    std::optional<py::Out> dx, dg, db;
    if (need_x) dx = py::alloc(allocator, x.t.shape, x.t.dtype, op);
    if (need_gamma) dg = py::alloc(allocator, Shape{C}, x.t.dtype, op);
    if (need_beta) db = py::alloc(allocator, Shape{C}, x.t.dtype, op);
    py::run(allocator, x.t, op, "x", {&gr.t, &x.t, opt(g), &mean.t, &var.t}, {opt(dx), opt(dg), opt(db)},
            [&] { cpu::batch_norm_backward(gr.t, x.t, nhwc, opt(g), mean.t, var.t, eps, opt(dx), opt(dg), opt(db)); },
            [&](gpu::Gpu& gg) {
              gpu::batch_norm_backward(gg, gr.t, x.t, nhwc, opt(g), mean.t, var.t, eps, opt(dx), opt(dg), opt(db));
            });
    auto obj = [](std::optional<py::Out>& t) { return t ? t->obj : pyb::none().cast<pyb::object>(); };
    return pyb::make_tuple(obj(dx), obj(dg), obj(db));
  });
  m.def("batch_norm_update_stats", [](pyb::handle rm_obj, pyb::handle rv_obj, pyb::handle m_obj, pyb::handle v_obj,
                                      pyb::handle mom_obj, int64_t count, bool unbiased, pyb::handle allocator) {
    const char* op = "batch_norm_update_stats";
    auto rm = py::arg(rm_obj, op, "running_mean");
    auto rv = py::arg(rv_obj, op, "running_var");
    auto mean = py::arg(m_obj, op, "mean");
    auto var = py::arg(v_obj, op, "var");
    const double mom = py::float_from(mom_obj, op, "momentum");
    cpu::batch_norm_update_stats_check(rm.t, rv.t, mean.t, var.t, mom, count);
    auto nm = py::alloc(allocator, rm.t.shape, rm.t.dtype, op);
    auto nv = py::alloc(allocator, rm.t.shape, rm.t.dtype, op);
    py::run(allocator, rm.t, op, "running_mean", {&rm.t, &rv.t, &mean.t, &var.t}, {&nm.t, &nv.t},
            [&] { cpu::batch_norm_update_stats(rm.t, rv.t, mean.t, var.t, mom, count, unbiased, nm.t, nv.t); },
            [&](gpu::Gpu& gg) {
              gpu::batch_norm_update_stats(gg, rm.t, rv.t, mean.t, var.t, mom, count, unbiased, nm.t, nv.t);
            });
    return pyb::make_tuple(nm.obj, nv.obj);
  });
}
