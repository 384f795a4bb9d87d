#include "cpu/mse.h"

#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/mse.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

constexpr int64_t kBlock = 1 << 14;  // elements per parallel block
constexpr int kLanes = 8;

// sum (p - t)^2 over n elements, squares summed in double in kLanes partial sums
// (without -ffast-math the compiler vectorizes only an explicitly split sum).
template <typename T>
inline double sq_err_sum(const T* p, const T* t, int64_t n) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      double d = double(p[j + k]) - double(t[j + k]);
      acc[k] += d * d;
    }
  double s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; j < n; ++j) {
    double d = double(p[j]) - double(t[j]);
    s += d * d;
  }
  return s;
}

template <typename T>
inline void sq_err(const T* p, const T* t, T* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    T d = p[j] - t[j];
    out[j] = d * d;
  }
}

// dpred = k * (p - t) * g[j] (per element) or k * (p - t) (g == nullptr: k already holds it)
template <typename T>
inline void sq_err_bwd(const T* p, const T* t, const T* g, T k, T* out, int64_t n) {
  if (g)
    for (int64_t j = 0; j < n; ++j) out[j] = k * (p[j] - t[j]) * g[j];
  else
    for (int64_t j = 0; j < n; ++j) out[j] = k * (p[j] - t[j]);
}

TC_ISA_FN(sum_f32, (const float* p, const float* t, int64_t n, double* out), (p, t, n, out),
          { *out = sq_err_sum(p, t, n); })
TC_ISA_FN(sum_f64, (const double* p, const double* t, int64_t n, double* out), (p, t, n, out),
          { *out = sq_err_sum(p, t, n); })
TC_ISA_FN(elem_f32, (const float* p, const float* t, float* o, int64_t n), (p, t, o, n),
          { sq_err(p, t, o, n); })
TC_ISA_FN(elem_f64, (const double* p, const double* t, double* o, int64_t n), (p, t, o, n),
          { sq_err(p, t, o, n); })
TC_ISA_FN(bwd_f32, (const float* p, const float* t, const float* g, float k, float* o, int64_t n),
          (p, t, g, k, o, n), { sq_err_bwd(p, t, g, k, o, n); })
TC_ISA_FN(bwd_f64,
          (const double* p, const double* t, const double* g, double k, double* o, int64_t n),
          (p, t, g, k, o, n), { sq_err_bwd(p, t, g, k, o, n); })

inline void sum_span(const float* p, const float* t, int64_t n, double* o) { sum_f32(p, t, n, o); }
inline void sum_span(const double* p, const double* t, int64_t n, double* o) { sum_f64(p, t, n, o); }
inline void elem_span(const float* p, const float* t, float* o, int64_t n) { elem_f32(p, t, o, n); }
inline void elem_span(const double* p, const double* t, double* o, int64_t n) { elem_f64(p, t, o, n); }
inline void bwd_span(const float* p, const float* t, const float* g, float k, float* o, int64_t n) {
  bwd_f32(p, t, g, k, o, n);
}
inline void bwd_span(const double* p, const double* t, const double* g, double k, double* o,
                     int64_t n) {
  bwd_f64(p, t, g, k, o, n);
}

template <typename T>
void forward(const Tensor& pred, const Tensor& target, int reduction, const Tensor& loss) {
  const T* p = pred.ptr<T>();
  const T* t = target.ptr<T>();
  const int64_t n = pred.numel();
  if (reduction == 0) {
    T* o = loss.ptr<T>();
    parallel_for(n, kBlock, [&](int64_t b, int64_t e) { elem_span(p + b, t + b, o + b, e - b); });
    return;
  }
  // Fixed blocks summed in block order: the same result whatever the thread count.
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(blocks);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t off = b * kBlock, len = n - off < kBlock ? n - off : kBlock;
      sum_span(p + off, t + off, len, &part[b]);
    }
  });
  double total = 0;
  for (double v : part) total += v;
  *loss.ptr<T>() = T(reduction == 1 ? total / double(n) : total);
}

template <typename T>
void backward(const Tensor& pred, const Tensor& target, const Tensor* grad, int reduction,
              const Tensor& dpred) {
  const T* p = pred.ptr<T>();
  const T* t = target.ptr<T>();
  T* o = dpred.ptr<T>();
  const int64_t n = pred.numel();
  T k = reduction == 1 ? T(2.0 / double(n)) : T(2);
  const T* g = nullptr;  // per-element upstream gradient (reduction none)
  if (grad && reduction != 0) k *= *grad->ptr<T>();
  if (grad && reduction == 0) g = grad->ptr<T>();
  parallel_for(n, kBlock, [&](int64_t b, int64_t e) {
    bwd_span(p + b, t + b, g ? g + b : nullptr, k, o + b, e - b);
  });
}

}  // namespace

// What forward and backward both check: pred and target alike, a known reduction, CPU.
static void check_pair(const char* op, const Tensor& pred, const Tensor& target, int reduction) {
  check_input(op, "pred", pred);
  check_input_like(op, "target", target, pred);
  check_shape(op, "target", target, pred.shape);
  if (reduction < 0 || reduction > 2)
    value_error(op, "reduction", "expected 0 (none), 1 (mean) or 2 (sum), got ", reduction);
}

Shape mse_check(const Tensor& pred, const Tensor& target, int reduction) {
  const char* op = "mse";
  check_pair(op, pred, target, reduction);
  return reduction == 0 ? pred.shape : Shape{};
}

void mse_backward_check(const Tensor& pred, const Tensor& target, const Tensor* grad, int reduction) {
  const char* op = "mse_backward";
  check_pair(op, pred, target, reduction);
  if (!grad) return;
  check_input_like(op, "grad", *grad, pred);
  if (reduction == 0) {
    check_shape(op, "grad", *grad, pred.shape);
  } else if (grad->numel() != 1 || grad->ndim() > 1) {
    value_error(op, "grad", "expected a scalar (0-d or one element) for reduction '",
                reduction == 1 ? "mean" : "sum", "', got shape ", grad->shape.str());
  }
}

void mse(const Tensor& pred, const Tensor& target, int reduction, const Tensor& loss) {
  if (pred.dtype == DType::f32) forward<float>(pred, target, reduction, loss);
  else forward<double>(pred, target, reduction, loss);
}

void mse_backward(const Tensor& pred, const Tensor& target, const Tensor* grad, int reduction,
                  const Tensor& dpred) {
  if (pred.dtype == DType::f32) backward<float>(pred, target, grad, reduction, dpred);
  else backward<double>(pred, target, grad, reduction, dpred);
}

}  // namespace tc::cpu

namespace {
using namespace tc;
namespace pyb = pybind11;

// A Python int/float grad (not bool): folded into the scale on every device.
bool is_number(pyb::handle h) {
  return !PyBool_Check(h.ptr()) && (PyFloat_Check(h.ptr()) || PyLong_Check(h.ptr()));
}
}  // namespace

TC_BIND(mse) {
  m.def("mse", [](pyb::handle pred_obj, pyb::handle target_obj, const std::string& reduction,
                  pyb::handle allocator) {
    const char* op = "mse";
    auto pred = py::arg(pred_obj, op, "pred");
    py::device_ready(allocator, pred.t, op, "pred");
    auto target = py::arg(target_obj, op, "target");
    int red = reduction_code(op, reduction);
    Shape shape = cpu::mse_check(pred.t, target.t, red);
    auto loss = py::alloc(allocator, shape, pred.t.dtype, op);
    py::run(allocator, pred.t, op, "pred", {&pred.t, &target.t}, {&loss.t}, [&] { cpu::mse(pred.t, target.t, red, loss.t); },
            [&](gpu::Gpu& g) { gpu::mse(g, pred.t, target.t, red, loss.t); });
    return loss.obj;
  });
  m.def("mse_backward", [](pyb::handle pred_obj, pyb::handle target_obj, pyb::handle grad_obj,
                           const std::string& reduction, pyb::handle allocator) {
    const char* op = "mse_backward";
    auto pred = py::arg(pred_obj, op, "pred");
    py::device_ready(allocator, pred.t, op, "pred");
    auto target = py::arg(target_obj, op, "target");
    int red = reduction_code(op, reduction);
    // A Python scalar grad: a 0-d host tensor for the CPU kernel, a scale on the GPU.
    const bool scalar = is_number(grad_obj);
    const double g0 = scalar ? grad_obj.cast<double>() : 1.0;
    if (scalar && red == 0)
      value_error(op, "grad", "expected shape ", pred.t.shape.str(), ", got ()");
    auto grad = scalar ? std::nullopt : py::optional_arg(grad_obj, op, "grad");
    cpu::mse_backward_check(pred.t, target.t, grad ? &grad->t : nullptr, red);
    auto dpred = py::alloc(allocator, pred.t.shape, pred.t.dtype, op);
    // (inside the CPU lambda pred is already float32 when it was a half: gs is a float)
    py::run(allocator, pred.t, op, "pred", {&pred.t, &target.t, grad ? &grad->t : nullptr}, {&dpred.t},
            [&] {
              float g32 = float(g0);
              double g64 = g0;
              Tensor gs;  // the scalar as a 0-d tensor of pred's dtype
              gs.dtype = pred.t.dtype;
              gs.data = pred.t.dtype == DType::f32 ? static_cast<void*>(&g32) : static_cast<void*>(&g64);
              cpu::mse_backward(pred.t, target.t, scalar ? &gs : grad ? &grad->t : nullptr, red, dpred.t);
            },
            [&](gpu::Gpu& g) {
              gpu::mse_backward(g, pred.t, target.t, grad ? &grad->t : nullptr, g0, red, dpred.t);
            });
    return dpred.obj;
  });
}
