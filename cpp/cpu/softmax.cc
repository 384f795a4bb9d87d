#include "cpu/softmax.h"

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/softmax.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

using namespace rows;

// One row: max, exps written straight into y with their sum, then a scale (the row
// stays in L1 between the three sweeps).
template <typename T>
TC_ROW_INLINE void softmax_rows(const T* x, T* y, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    T m = row_max(xr, C);
    T inv = T(1) / exp_shifted(xr, m, yr, C);
    for (int64_t j = 0; j < C; ++j) yr[j] *= inv;
  }
}

template <typename T>
TC_ROW_INLINE void softmax_bwd_rows(const T* dy, const T* y, T* dx, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* g = dy + r * C;
    const T* yr = y + r * C;
    T* d = dx + r * C;
    T dot = row_dot(g, yr, C);
    for (int64_t j = 0; j < C; ++j) d[j] = yr[j] * (g[j] - dot);
  }
}

TC_ISA_FN(softmax_f32, (const float* x, float* y, int64_t r0, int64_t r1, int64_t C),
          (x, y, r0, r1, C), { softmax_rows(x, y, r0, r1, C); })
TC_ISA_FN(softmax_f64, (const double* x, double* y, int64_t r0, int64_t r1, int64_t C),
          (x, y, r0, r1, C), { softmax_rows(x, y, r0, r1, C); })
TC_ISA_FN(softmax_bwd_f32,
          (const float* dy, const float* y, float* dx, int64_t r0, int64_t r1, int64_t C),
          (dy, y, dx, r0, r1, C), { softmax_bwd_rows(dy, y, dx, r0, r1, C); })
TC_ISA_FN(softmax_bwd_f64,
          (const double* dy, const double* y, double* dx, int64_t r0, int64_t r1, int64_t C),
          (dy, y, dx, r0, r1, C), { softmax_bwd_rows(dy, y, dx, r0, r1, C); })

}  // namespace

void softmax(const Tensor& x, const Tensor& y) {
  int64_t C = x.size(-1), R = x.numel() / C;
  parallel_for(R, row_grain(C), [&](int64_t b, int64_t e) {
    if (x.dtype == DType::f32)
      softmax_f32(x.ptr<float>(), y.ptr<float>(), b, e, C);
    else
      softmax_f64(x.ptr<double>(), y.ptr<double>(), b, e, C);
  });
}

void softmax_backward(const Tensor& dy, const Tensor& y, const Tensor& dx) {
  int64_t C = dy.size(-1), R = dy.numel() / C;
  parallel_for(R, row_grain(C), [&](int64_t b, int64_t e) {
    if (dy.dtype == DType::f32)
      softmax_bwd_f32(dy.ptr<float>(), y.ptr<float>(), dx.ptr<float>(), b, e, C);
    else
      softmax_bwd_f64(dy.ptr<double>(), y.ptr<double>(), dx.ptr<double>(), b, e, C);
  });
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;


}  // namespace

TC_BIND(softmax) {
  m.def("softmax", [](pyb::handle x_obj, pyb::handle allocator) {
    const char* op = "softmax";
    auto x = py::arg(x_obj, op, "x");
    check_input(op, "x", x.t);
    check_rank(op, "x", x.t, 1, kMaxDims);
    py::device_ready(allocator, x.t, op, "x");
    auto y = py::alloc(allocator, x.t.shape, x.t.dtype, op);
    py::run(allocator, x.t, op, "x", {&x.t}, {&y.t}, [&] { cpu::softmax(x.t, y.t); },
            [&](gpu::Gpu& g) { gpu::softmax(g, x.t, y.t); });
    return y.obj;
  });
  m.def("softmax_backward", [](pyb::handle dy_obj, pyb::handle y_obj, pyb::handle allocator) {
    const char* op = "softmax_backward";
    auto dy = py::arg(dy_obj, op, "grad");
    auto y = py::arg(y_obj, op, "y");
    check_input(op, "grad", dy.t);
    check_rank(op, "grad", dy.t, 1, kMaxDims);
    py::device_ready(allocator, dy.t, op, "grad");
    check_input_like(op, "y", y.t, dy.t);
    check_shape(op, "y", y.t, dy.t.shape);
    auto dx = py::alloc(allocator, dy.t.shape, dy.t.dtype, op);
    py::run(allocator, dy.t, op, "grad", {&dy.t, &y.t}, {&dx.t}, [&] { cpu::softmax_backward(dy.t, y.t, dx.t); },
            [&](gpu::Gpu& g) { gpu::softmax_backward(g, dy.t, y.t, dx.t); });
    return dx.obj;
  });
}
