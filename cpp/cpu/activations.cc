#include "cpu/activations.h"

#include <cmath>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/activations.h"
#include "gpu/leaky_relu.h"
#include "gpu/sigmoid.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;

template <typename T>
TC_INLINE T relu_of(T x) { return x < T(0) ? T(0) : x; }  // NaN < 0 is false: NaN passes

using act::tanh_of;  // shared with lstm (activations.h)

template <typename T>
TC_INLINE void relu_span(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = relu_of(x[i]);
}
template <typename T>
TC_INLINE void relu_bwd_span(const T* dy, const T* y, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}
template <typename T>
TC_INLINE void tanh_span(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_of(x[i]);
}
template <typename T>
TC_INLINE void tanh_bwd_span(const T* dy, const T* y, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}

TC_ISA_FN(relu_f32, (const float* x, float* y, int64_t n), (x, y, n), { relu_span(x, y, n); })
TC_ISA_FN(relu_f64, (const double* x, double* y, int64_t n), (x, y, n), { relu_span(x, y, n); })
TC_ISA_FN(relu_bwd_f32, (const float* dy, const float* y, float* dx, int64_t n), (dy, y, dx, n),
          { relu_bwd_span(dy, y, dx, n); })
TC_ISA_FN(relu_bwd_f64, (const double* dy, const double* y, double* dx, int64_t n), (dy, y, dx, n),
          { relu_bwd_span(dy, y, dx, n); })
TC_ISA_FN(tanh_f32, (const float* x, float* y, int64_t n), (x, y, n), { tanh_span(x, y, n); })
TC_ISA_FN(tanh_bwd_f32, (const float* dy, const float* y, float* dx, int64_t n), (dy, y, dx, n),
          { tanh_bwd_span(dy, y, dx, n); })
TC_ISA_FN(tanh_bwd_f64, (const double* dy, const double* y, double* dx, int64_t n), (dy, y, dx, n),
          { tanh_bwd_span(dy, y, dx, n); })

// sigmoid: y = 1 / (1 + e^-x); dx = dy * y * (1 - y).
template <typename T>
TC_INLINE void sigmoid_span(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = act::sigmoid_of(x[i]);
}
template <typename T>
TC_INLINE void sigmoid_bwd_span(const T* dy, const T* y, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}
TC_ISA_FN(sigmoid_f32, (const float* x, float* y, int64_t n), (x, y, n), { sigmoid_span(x, y, n); })
TC_ISA_FN(sigmoid_f64, (const double* x, double* y, int64_t n), (x, y, n), { sigmoid_span(x, y, n); })
TC_ISA_FN(sigmoid_bwd_f32, (const float* dy, const float* y, float* dx, int64_t n), (dy, y, dx, n),
          { sigmoid_bwd_span(dy, y, dx, n); })
TC_ISA_FN(sigmoid_bwd_f64, (const double* dy, const double* y, double* dx, int64_t n), (dy, y, dx, n),
          { sigmoid_bwd_span(dy, y, dx, n); })

// Runs fn(offset, count) over the elements in parallel chunks.
template <typename F>
void chunks(int64_t n, F fn) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { fn(b, e - b); });
}

}  // namespace

Act act_from(const std::string& name, const char* op) {
  if (name.empty() || name == "linear") return Act::none;
  if (name == "relu") return Act::relu;
  if (name == "tanh") return Act::tanh;
  value_error(op, "activation", "expected None, 'relu' or 'tanh', got '", name, "'");
}

void act_inplace(Act a, float* y, int64_t n) {
  if (a == Act::relu) relu_f32(y, y, n);
  if (a == Act::tanh) tanh_f32(y, y, n);
}
void act_inplace(Act a, double* y, int64_t n) {
  if (a == Act::relu) relu_f64(y, y, n);
  if (a == Act::tanh) tanh_span(y, y, n);
}
void act_backward(Act a, const float* dy, const float* y, float* g, int64_t n) {
  if (a == Act::relu) relu_bwd_f32(dy, y, g, n);
  if (a == Act::tanh) tanh_bwd_f32(dy, y, g, n);
}
void act_backward(Act a, const double* dy, const double* y, double* g, int64_t n) {
  if (a == Act::relu) relu_bwd_f64(dy, y, g, n);
  if (a == Act::tanh) tanh_bwd_f64(dy, y, g, n);
}

void relu(const Tensor& x, const Tensor& y) {
  if (x.dtype == DType::f32)
    chunks(x.numel(), [&](int64_t o, int64_t n) { relu_f32(x.ptr<float>() + o, y.ptr<float>() + o, n); });
  else
    chunks(x.numel(), [&](int64_t o, int64_t n) { relu_f64(x.ptr<double>() + o, y.ptr<double>() + o, n); });
}

void relu_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  if (dy.dtype == DType::f32)
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      relu_bwd_f32(dy.ptr<float>() + o, y.ptr<float>() + o, dx.ptr<float>() + o, n);
    });
  else
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      relu_bwd_f64(dy.ptr<double>() + o, y.ptr<double>() + o, dx.ptr<double>() + o, n);
    });
}

void tanh(const Tensor& x, const Tensor& y) {
  if (x.dtype == DType::f32)
    chunks(x.numel(), [&](int64_t o, int64_t n) { tanh_f32(x.ptr<float>() + o, y.ptr<float>() + o, n); });
  else
    chunks(x.numel(), [&](int64_t o, int64_t n) { tanh_span(x.ptr<double>() + o, y.ptr<double>() + o, n); });
}

void tanh_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  if (dy.dtype == DType::f32)
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      tanh_bwd_f32(dy.ptr<float>() + o, y.ptr<float>() + o, dx.ptr<float>() + o, n);
    });
  else
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      tanh_bwd_f64(dy.ptr<double>() + o, y.ptr<double>() + o, dx.ptr<double>() + o, n);
    });
}

// ---- leaky_relu ---------------------------------------------------------------------------
namespace {

template <typename T>
TC_INLINE void leaky_span(const T* x, T* y, T slope, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : x[i] * slope;  // NaN -> NaN * slope
}
template <typename T>
TC_INLINE void leaky_bwd_span(const T* dy, const T* x, T* dx, T slope, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : dy[i] * slope;
}

TC_ISA_FN(leaky_f32, (const float* x, float* y, float s, int64_t n), (x, y, s, n), { leaky_span(x, y, s, n); })
TC_ISA_FN(leaky_f64, (const double* x, double* y, double s, int64_t n), (x, y, s, n), { leaky_span(x, y, s, n); })
TC_ISA_FN(leaky_bwd_f32, (const float* dy, const float* x, float* dx, float s, int64_t n), (dy, x, dx, s, n),
          { leaky_bwd_span(dy, x, dx, s, n); })
TC_ISA_FN(leaky_bwd_f64, (const double* dy, const double* x, double* dx, double s, int64_t n),
          (dy, x, dx, s, n), { leaky_bwd_span(dy, x, dx, s, n); })

}  // namespace

double leaky_relu_slope(double slope, const char* op) {
  if (!std::isfinite(slope)) value_error(op, "negative_slope", "expected a finite number, got ", slope);
  return slope;
}

void leaky_relu(const Tensor& x, double slope, const Tensor& y) {
  if (x.dtype == DType::f32)
    chunks(x.numel(), [&](int64_t o, int64_t n) { leaky_f32(x.ptr<float>() + o, y.ptr<float>() + o, float(slope), n); });
  else
    chunks(x.numel(), [&](int64_t o, int64_t n) { leaky_f64(x.ptr<double>() + o, y.ptr<double>() + o, slope, n); });
}

void leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, const Tensor& dx) {
  if (dy.dtype == DType::f32)
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      leaky_bwd_f32(dy.ptr<float>() + o, x.ptr<float>() + o, dx.ptr<float>() + o, float(slope), n);
    });
  else
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      leaky_bwd_f64(dy.ptr<double>() + o, x.ptr<double>() + o, dx.ptr<double>() + o, slope, n);
    });
}

void sigmoid(const Tensor& x, const Tensor& y) {
  if (x.dtype == DType::f32)
    chunks(x.numel(), [&](int64_t o, int64_t n) { sigmoid_f32(x.ptr<float>() + o, y.ptr<float>() + o, n); });
  else
    chunks(x.numel(), [&](int64_t o, int64_t n) { sigmoid_f64(x.ptr<double>() + o, y.ptr<double>() + o, n); });
}

void sigmoid_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  if (dy.dtype == DType::f32)
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      sigmoid_bwd_f32(dy.ptr<float>() + o, y.ptr<float>() + o, dx.ptr<float>() + o, n);
    });
  else
    chunks(dy.numel(), [&](int64_t o, int64_t n) {
      sigmoid_bwd_f64(dy.ptr<double>() + o, y.ptr<double>() + o, dx.ptr<double>() + o, n);
    });
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;
using Fwd = void (*)(const Tensor&, const Tensor&);
using Bwd = void (*)(const Tensor&, const Tensor&, const Tensor&);
using GpuFwd = void (*)(gpu::Gpu&, const Tensor&, const Tensor&);
using GpuBwd = void (*)(gpu::Gpu&, const Tensor&, const Tensor&, const Tensor&);

// y = f(x): validates x, allocates y like x, runs the kernel of x's device.
pyb::object unary(const char* op, Fwd fn, GpuFwd gfn, pyb::handle x_obj, pyb::handle allocator) {
  auto x = py::arg(x_obj, op, "x");
  check_input(op, "x", x.t);
  py::device_ready(allocator, x.t, op, "x");
  auto y = py::alloc(allocator, x.t.shape, x.t.dtype, op);
  py::run(allocator, x.t, op, "x", {&x.t}, {&y.t}, [&] { fn(x.t, y.t); }, [&](gpu::Gpu& g) { gfn(g, x.t, y.t); });
  return y.obj;
}

// dx = g(dy, y): validates both against each other, allocates dx like dy.
pyb::object unary_backward(const char* op, Bwd fn, GpuBwd gfn, pyb::handle dy_obj, pyb::handle y_obj,
                           pyb::handle allocator) {
  auto dy = py::arg(dy_obj, op, "grad");
  auto y = py::arg(y_obj, op, "y");
  check_input(op, "grad", dy.t);
  py::device_ready(allocator, dy.t, op, "grad");
  check_input_like(op, "y", y.t, dy.t);
  check_shape(op, "y", y.t, dy.t.shape);
  auto dx = py::alloc(allocator, dy.t.shape, dy.t.dtype, op);
  py::run(allocator, dy.t, op, "grad", {&dy.t, &y.t}, {&dx.t}, [&] { fn(dy.t, y.t, dx.t); },
          [&](gpu::Gpu& g) { gfn(g, dy.t, y.t, dx.t); });
  return dx.obj;
}

}  // namespace

TC_BIND(activations) {
  m.def("relu", [](pyb::handle x, pyb::handle a) { return unary("relu", cpu::relu, gpu::relu, x, a); });
  m.def("relu_backward", [](pyb::handle dy, pyb::handle y, pyb::handle a) {
    return unary_backward("relu_backward", cpu::relu_backward, gpu::relu_backward, dy, y, a);
  });
  m.def("tanh", [](pyb::handle x, pyb::handle a) { return unary("tanh", cpu::tanh, gpu::tanh, x, a); });
  m.def("tanh_backward", [](pyb::handle dy, pyb::handle y, pyb::handle a) {
    return unary_backward("tanh_backward", cpu::tanh_backward, gpu::tanh_backward, dy, y, a);
  });
  m.def("sigmoid", [](pyb::handle x, pyb::handle a) { return unary("sigmoid", cpu::sigmoid, gpu::sigmoid, x, a); });
  m.def("sigmoid_backward", [](pyb::handle dy, pyb::handle y, pyb::handle a) {
    return unary_backward("sigmoid_backward", cpu::sigmoid_backward, gpu::sigmoid_backward, dy, y, a);
  });
}

// ---- leaky_relu's binding ---------------------------------------------------------------------
namespace {

// The slope: a float (TypeError), finite (ValueError), both naming 'negative_slope'.
double slope_from(pybind11::handle v, const char* op) {
  return tc::cpu::leaky_relu_slope(tc::py::float_from(v, op, "negative_slope"), op);
}

}  // namespace

TC_BIND(leaky_relu) {
  using namespace tc;
  namespace pyb = pybind11;
  m.def("leaky_relu", [](pyb::handle x_obj, pyb::handle slope, pyb::handle allocator) {
    const char* op = "leaky_relu";
    auto x = py::arg(x_obj, op, "x");
    check_input(op, "x", x.t);
    const double s = slope_from(slope, op);
    py::device_ready(allocator, x.t, op, "x");
    auto y = py::alloc(allocator, x.t.shape, x.t.dtype, op);
    py::run(allocator, x.t, op, "x", {&x.t}, {&y.t}, [&] { cpu::leaky_relu(x.t, s, y.t); },
            [&](gpu::Gpu& g) { gpu::leaky_relu(g, x.t, s, y.t); });
    return y.obj;
  });
  m.def("leaky_relu_backward", [](pyb::handle dy_obj, pyb::handle x_obj, pyb::handle slope,
                                  pyb::handle allocator) {
    const char* op = "leaky_relu_backward";
    auto dy = py::arg(dy_obj, op, "grad");
    auto x = py::arg(x_obj, op, "x");
    check_input(op, "grad", dy.t);
    check_input_like(op, "x", x.t, dy.t);
    check_shape(op, "x", x.t, dy.t.shape);
    const double s = slope_from(slope, op);
    py::device_ready(allocator, dy.t, op, "grad");
    auto dx = py::alloc(allocator, dy.t.shape, dy.t.dtype, op);
    py::run(allocator, dy.t, op, "grad", {&dy.t, &x.t}, {&dx.t}, [&] { cpu::leaky_relu_backward(dy.t, x.t, s, dx.t); },
            [&](gpu::Gpu& g) { gpu::leaky_relu_backward(g, dy.t, x.t, s, dx.t); });
    return dx.obj;
  });
}
