#include "cpu/global_avg_pool2d.h"

#include <algorithm>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/global_avg_pool2d.h"
#include "python/gpu_py.h"


namespace tc::cpu {
namespace {

constexpr int64_t kBlockC = 256;  // NHWC: channels one task accumulates (a stack array)

// NCHW: y[p] = mean of plane p (hw values), p in [p0, p1). Eight double lanes so
// the sum vectorizes without reordering a single chain (no -ffast-math).
template <typename T>
TC_INLINE void means_nchw(const T* x, T* y, int64_t hw, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * hw;
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= hw; i += 8)
      for (int j = 0; j < 8; ++j) a[j] += double(xp[i + j]);
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < hw; ++i) s += double(xp[i]);
    y[p] = T(s / double(hw));
  }
}

// NHWC: y[n, c0:c1] = mean over the hw cells of image n; the inner loop runs over
// contiguous channels.
template <typename T>
TC_INLINE void means_nhwc(const T* x, T* y, int64_t hw, int64_t C, int64_t n, int64_t c0, int64_t c1) {
  double acc[kBlockC];
  const int64_t nc = c1 - c0;
  for (int64_t c = 0; c < nc; ++c) acc[c] = 0.0;
  const T* xn = x + n * hw * C + c0;
  for (int64_t cell = 0; cell < hw; ++cell) {
    const T* xc = xn + cell * C;
    for (int64_t c = 0; c < nc; ++c) acc[c] += double(xc[c]);
  }
  for (int64_t c = 0; c < nc; ++c) y[n * C + c0 + c] = T(acc[c] / double(hw));
}

TC_ISA_FN(means_nchw_f32, (const float* x, float* y, int64_t hw, int64_t p0, int64_t p1), (x, y, hw, p0, p1),
          { means_nchw(x, y, hw, p0, p1); })
TC_ISA_FN(means_nchw_f64, (const double* x, double* y, int64_t hw, int64_t p0, int64_t p1), (x, y, hw, p0, p1),
          { means_nchw(x, y, hw, p0, p1); })
TC_ISA_FN(means_nhwc_f32, (const float* x, float* y, int64_t hw, int64_t C, int64_t n, int64_t c0, int64_t c1),
          (x, y, hw, C, n, c0, c1), { means_nhwc(x, y, hw, C, n, c0, c1); })
TC_ISA_FN(means_nhwc_f64, (const double* x, double* y, int64_t hw, int64_t C, int64_t n, int64_t c0, int64_t c1),
          (x, y, hw, C, n, c0, c1), { means_nhwc(x, y, hw, C, n, c0, c1); })

template <typename T>
void forward(const Tensor& x, bool nhwc, const Tensor& y) {
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  const int64_t N = x.size(0);
  if (!nhwc) {
    const int64_t hw = x.size(2) * x.size(3), planes = N * x.size(1);
    parallel_for(planes, std::max<int64_t>(1, 16384 / hw), [&](int64_t a, int64_t b) {
      if constexpr (std::is_same_v<T, float>) means_nchw_f32(xp, yp, hw, a, b);
      else means_nchw_f64(xp, yp, hw, a, b);
    });
  } else {
    const int64_t hw = x.size(1) * x.size(2), C = x.size(3), blocks = (C + kBlockC - 1) / kBlockC;
    const int64_t per_task = hw * std::min(C, kBlockC);
    parallel_for(N * blocks, std::max<int64_t>(1, 16384 / per_task), [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) {
        const int64_t n = t / blocks, c0 = (t % blocks) * kBlockC, c1 = std::min(C, c0 + kBlockC);
        if constexpr (std::is_same_v<T, float>) means_nhwc_f32(xp, yp, hw, C, n, c0, c1);
        else means_nhwc_f64(xp, yp, hw, C, n, c0, c1);
      }
    });
  }
}

template <typename T>
void backward(const Tensor& grad, bool nhwc, const Tensor& dx) {
  const T* gp = grad.ptr<T>();
  T* dxp = dx.ptr<T>();
  const int64_t N = dx.size(0);
  if (!nhwc) {
    const int64_t hw = dx.size(2) * dx.size(3), planes = N * dx.size(1);
    parallel_for(planes, std::max<int64_t>(1, 16384 / hw), [&](int64_t a, int64_t b) {
      for (int64_t p = a; p < b; ++p) std::fill(dxp + p * hw, dxp + (p + 1) * hw, T(double(gp[p]) / double(hw)));
    });
  } else {
    const int64_t hw = dx.size(1) * dx.size(2), C = dx.size(3);
    parallel_for(N * hw, std::max<int64_t>(1, 16384 / C), [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) {
        const T* gn = gp + (r / hw) * C;
        T* d = dxp + r * C;
        for (int64_t c = 0; c < C; ++c) d[c] = T(double(gn[c]) / double(hw));
      }
    });
  }
}

}  // namespace

Shape global_avg_pool2d_check(const Tensor& x, bool nhwc) {
  const char* op = "global_avg_pool2d";
  check_input(op, "x", x);
  check_rank(op, "x", x, 4, 4);
  return Shape{x.size(0), x.size(nhwc ? 3 : 1)};
}

void global_avg_pool2d(const Tensor& x, bool nhwc, const Tensor& y) {
  TC_FLOAT_TYPES("global_avg_pool2d", x.dtype, T, forward<T>(x, nhwc, y));
}

void global_avg_pool2d_backward_check(const Tensor& grad, const Shape& x_shape, bool nhwc) {
  const char* op = "global_avg_pool2d_backward";
  check_input(op, "grad", grad);
  check_rank(op, "grad", grad, 2, 2);
  if (x_shape.ndim != 4) value_error(op, "x_shape", "expected 4 dimensions, got ", x_shape.str());
  for (int i = 0; i < 4; ++i)
    if (x_shape[i] < 1) value_error(op, "x_shape", "dimensions must be >= 1, got ", x_shape.str());
  const Shape want{x_shape[0], x_shape[nhwc ? 3 : 1]};
  if (grad.shape != want)
    value_error(op, "grad", "expected shape ", want.str(), " (N, C of x_shape ", x_shape.str(), ", layout ",
                nhwc ? "NHWC" : "NCHW", "), got ", grad.shape.str());
}

void global_avg_pool2d_backward(const Tensor& grad, bool nhwc, const Tensor& dx) {
  TC_FLOAT_TYPES("global_avg_pool2d_backward", grad.dtype, T, backward<T>(grad, nhwc, dx));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

pyb::object gap_py(pyb::handle x_obj, const std::string& layout, pyb::handle allocator) {
  const char* op = "global_avg_pool2d";
  auto x = py::arg(x_obj, op, "x");
  const bool nhwc = py::nhwc_from(layout, op);
  py::device_ready(allocator, x.t, op, "x");
  Shape ys = cpu::global_avg_pool2d_check(x.t, nhwc);
  auto y = py::alloc(allocator, ys, x.t.dtype, op);
  py::run(allocator, x.t, op, "x", {&x.t}, {&y.t}, [&] { cpu::global_avg_pool2d(x.t, nhwc, y.t); },
          [&](gpu::Gpu& g) { gpu::global_avg_pool2d(g, x.t, nhwc, y.t); });
  return y.obj;
}

pyb::object gap_backward_py(pyb::handle grad_obj, pyb::handle x_shape, const std::string& layout,
                            pyb::handle allocator) {
  const char* op = "global_avg_pool2d_backward";
  auto grad = py::arg(grad_obj, op, "grad");
  const bool nhwc = py::nhwc_from(layout, op);
  Shape xs = py::shape_from(x_shape, op, "x_shape");
  py::device_ready(allocator, grad.t, op, "grad");
  cpu::global_avg_pool2d_backward_check(grad.t, xs, nhwc);
  auto dx = py::alloc(allocator, xs, grad.t.dtype, op);
  py::run(allocator, grad.t, op, "grad", {&grad.t}, {&dx.t}, [&] { cpu::global_avg_pool2d_backward(grad.t, nhwc, dx.t); },
          [&](gpu::Gpu& g) { gpu::global_avg_pool2d_backward(g, grad.t, nhwc, dx.t); });
  return dx.obj;
}

}  // namespace

TC_BIND(global_avg_pool2d) {
  m.def("global_avg_pool2d", &gap_py);
  m.def("global_avg_pool2d_backward", &gap_backward_py);
}
