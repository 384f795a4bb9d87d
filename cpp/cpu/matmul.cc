#include "cpu/matmul.h"

#include "core/dispatch.h"
#include "core/parallel.h"
#include "core/half.h"
#include "cpu/gemm.h"
#include "cpu/gemm_half.h"
#include "gpu/matmul.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

using Dims = MatmulDims;

// Runs fn(i) for each batch: batches in parallel when there are enough of them
// (each GEMM then runs on one thread), else one after the other (each GEMM parallel).
template <typename F>
void each_batch(const Dims& d, F fn) {
  double flops = 2.0 * double(d.M) * double(d.N) * double(d.K);
  if (d.batch > 1 && (d.batch >= 2 * num_threads() || flops < 4e6)) {
    parallel_for(d.batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) fn(i);
    });
  } else {
    for (int64_t i = 0; i < d.batch; ++i) fn(i);
  }
}

template <typename T>
void forward_t(const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb, const Tensor& c) {
  const Dims d = matmul_dims(a, b, ta, tb);
  const T* A = a.ptr<T>();
  const T* B = b.ptr<T>();
  const T* bs = bias ? bias->ptr<T>() : nullptr;
  T* C = c.ptr<T>();
  const int64_t M = d.M, N = d.N, K = d.K;
  each_batch(d, [&](int64_t i) {
    T* ci = C + i * M * N;
    if (bs)  // bias first, then the GEMM accumulates onto it (beta = 1)
      for (int64_t r = 0; r < M; ++r)
        for (int64_t j = 0; j < N; ++j) ci[r * N + j] = bs[j];
    gemm(ta, tb, M, N, K, T(1), A + i * M * K, ta ? M : K, B + (d.b_batched ? i * K * N : 0), tb ? K : N,
         bs ? T(1) : T(0), ci, N);
  });
}

template <typename T>
void backward_t(const Tensor& grad, const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor* da,
                const Tensor* db, const Tensor* dbias) {
  const Dims d = matmul_dims(a, b, ta, tb);
  const int64_t M = d.M, N = d.N, K = d.K;
  const T* G = grad.ptr<T>();
  const T* A = a.ptr<T>();
  const T* B = b.ptr<T>();
  const int64_t arow = ta ? M : K, brow = tb ? K : N;  // row lengths of a and b as stored
  if (da) {
    // d op(a) = G op(b)^T; with trans_a, da = (d op(a))^T = op(b) G^T.
    T* DA = da->ptr<T>();
    each_batch(d, [&](int64_t i) {
      const T* gi = G + i * M * N;
      const T* bi = B + (d.b_batched ? i * K * N : 0);
      T* dai = DA + i * M * K;
      if (!ta)
        gemm(false, !tb, M, K, N, T(1), gi, N, bi, brow, T(0), dai, K);
      else
        gemm(tb, true, K, M, N, T(1), bi, brow, gi, N, T(0), dai, M);
    });
  }
  if (db) {
    // d op(b) = op(a)^T G; with trans_b, db = G^T op(a). A shared b sums over the batch.
    T* DB = db->ptr<T>();
    auto one = [&](int64_t i, T beta, T* dbi) {
      const T* gi = G + i * M * N;
      const T* ai = A + i * M * K;
      if (!tb)
        gemm(!ta, false, K, N, M, T(1), ai, arow, gi, N, beta, dbi, N);
      else
        gemm(true, ta, N, K, M, T(1), gi, N, ai, arow, beta, dbi, K);
    };
    if (d.b_batched)
      each_batch(d, [&](int64_t i) { one(i, T(0), DB + i * K * N); });
    else
      for (int64_t i = 0; i < d.batch; ++i) one(i, i == 0 ? T(0) : T(1), DB);
  }
  if (dbias) {
    // Column sums of grad over every row of every batch, split over columns.
    T* out = dbias->ptr<T>();
    const int64_t rows = grad.numel() / N;
    parallel_for(N, rows * N < (1 << 16) ? N : 64, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) out[j] = T(0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* g = G + r * N;
        for (int64_t j = j0; j < j1; ++j) out[j] += g[j];
      }
    });
  }
}

}  // namespace

MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  MatmulDims d;
  const int r = a.ndim();
  d.M = ta ? a.size(r - 1) : a.size(r - 2);
  d.K = ta ? a.size(r - 2) : a.size(r - 1);
  d.N = tb ? b.size(-2) : b.size(-1);
  d.batch = r == 3 ? a.size(0) : 1;
  d.b_batched = b.ndim() == 3;
  if (!d.b_batched && !ta) {
    d.M *= d.batch;
    d.batch = 1;
  }
  return d;
}

Shape matmul_check(const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb, const char* op) {
  check_input(op, "a", a);
  check_rank(op, "a", a, 2, 3);
  check_input_like(op, "b", b, a);
  check_rank(op, "b", b, 2, 3);
  if (b.ndim() == 3 && a.ndim() != 3)
    value_error(op, "b", "a 3-D (batched) b needs a 3-D a; got a of shape ", a.shape.str());
  if (b.ndim() == 3 && b.size(0) != a.size(0))
    value_error(op, "b", "batch size ", b.size(0), " does not match a's ", a.size(0));
  int r = a.ndim();
  int64_t M = ta ? a.size(r - 1) : a.size(r - 2);
  int64_t Ka = ta ? a.size(r - 2) : a.size(r - 1);
  int64_t Kb = tb ? b.size(-1) : b.size(-2);
  int64_t N = tb ? b.size(-2) : b.size(-1);
  if (Ka != Kb)
    value_error(op, "b", "inner dimensions differ: a", ta ? " (transposed)" : "", " has shape ",
                a.shape.str(), " (K=", Ka, "), b", tb ? " (transposed)" : "", " has shape ", b.shape.str(),
                " (K=", Kb, ")");
  if (bias) {
    check_input_like(op, "bias", *bias, a);
    if (bias->ndim() != 1 || bias->size(0) != N)
      value_error(op, "bias", "expected shape (", N, ",), got ", bias->shape.str());
  }
  return r == 3 ? Shape{a.size(0), M, N} : Shape{M, N};
}

void matmul(const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb, const Tensor& c) {
  if (half::is_half(a.dtype)) return matmul_half(a, b, bias, ta, tb, c);  // cpu/gemm_half.h
  TC_FLOAT_TYPES("matmul", a.dtype, T, forward_t<T>(a, b, bias, ta, tb, c));
}

void matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b, bool ta, bool tb,
                     const Tensor* da, const Tensor* db, const Tensor* dbias) {
  if (half::is_half(a.dtype)) return matmul_backward_half(grad, a, b, ta, tb, da, db, dbias);
  TC_FLOAT_TYPES("matmul_backward", a.dtype, T, backward_t<T>(grad, a, b, ta, tb, da, db, dbias));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

void require_cpu(const char* op, const char* arg, const Tensor& t) {
  if (t.device != Device::cpu) value_error(op, arg, "CUDA tensors need a CUDA build of twincore");
}

pyb::object matmul_py(pyb::handle a_obj, pyb::handle b_obj, pyb::handle bias_obj, bool ta, bool tb,
                      pyb::handle allocator) {
  const char* op = "matmul";
  auto a = py::arg(a_obj, op, "a");
  auto b = py::arg(b_obj, op, "b");
  auto bias = py::optional_arg(bias_obj, op, "bias");
  py::device_ready(allocator, a.t, op, "a");
  Shape cs = cpu::matmul_check(a.t, b.t, bias ? &bias->t : nullptr, ta, tb, op);
  auto c = py::alloc(allocator, cs, a.t.dtype, op);
  // no tensors for the half adapter: cpu::matmul takes halves itself (cpu/gemm_half.h: native bf16
  // dot products where the CPU has them, else the adapter)
  py::run(allocator, a.t, op, "a", {}, {}, [&] { cpu::matmul(a.t, b.t, bias ? &bias->t : nullptr, ta, tb, c.t); },
          [&](gpu::Gpu& g) { gpu::matmul(g, op, a.t, b.t, bias ? &bias->t : nullptr, ta, tb, c.t); });
  return c.obj;
}

pyb::tuple matmul_backward_py(pyb::handle g_obj, pyb::handle a_obj, pyb::handle b_obj, bool ta, bool tb,
                              bool need_a, bool need_b, bool need_bias, pyb::handle allocator) {
  const char* op = "matmul_backward";
  auto g = py::arg(g_obj, op, "grad");
  auto a = py::arg(a_obj, op, "a");
  auto b = py::arg(b_obj, op, "b");
  check_input(op, "grad", g.t);
  py::device_ready(allocator, g.t, op, "grad");
  Shape cs = cpu::matmul_check(a.t, b.t, nullptr, ta, tb, op);
  check_input_like(op, "grad", g.t, a.t);
  check_shape(op, "grad", g.t, cs);
  pyb::object none = pyb::none(), da_obj = none, db_obj = none, dbias_obj = none;
  Tensor da, db, dbias;
  if (need_a) {
    auto o = py::alloc(allocator, a.t.shape, a.t.dtype, op);
    da_obj = o.obj, da = o.t;
  }
  if (need_b) {
    auto o = py::alloc(allocator, b.t.shape, a.t.dtype, op);
    db_obj = o.obj, db = o.t;
  }
  if (need_bias) {
    auto o = py::alloc(allocator, Shape{cs[cs.ndim - 1]}, a.t.dtype, op);
    dbias_obj = o.obj, dbias = o.t;
  }
  py::run(allocator, g.t, op, "grad", {}, {},  // halves: cpu::matmul_backward (cpu/gemm_half.h)
          [&] {
            cpu::matmul_backward(g.t, a.t, b.t, ta, tb, need_a ? &da : nullptr, need_b ? &db : nullptr,
                                 need_bias ? &dbias : nullptr);
          },
          [&](gpu::Gpu& gp) {
            gpu::matmul_backward(gp, op, g.t, a.t, b.t, ta, tb, need_a ? &da : nullptr, need_b ? &db : nullptr,
                                 need_bias ? &dbias : nullptr);
          });
  return pyb::make_tuple(da_obj, db_obj, dbias_obj);
}

}  // namespace

TC_BIND(matmul) {
  m.def("matmul", &matmul_py, pyb::arg("a"), pyb::arg("b"), pyb::arg("bias"), pyb::arg("trans_a"),
        pyb::arg("trans_b"), pyb::arg("alloc"));
  m.def("matmul_backward", &matmul_backward_py, pyb::arg("grad"), pyb::arg("a"), pyb::arg("b"),
        pyb::arg("trans_a"), pyb::arg("trans_b"), pyb::arg("need_a"), pyb::arg("need_b"),
        pyb::arg("need_bias"), pyb::arg("alloc"));
  // Direct access to the shared GEMM for tests: c = alpha * op(a) @ op(b) + beta * c, in place.
  m.def("_gemm", [](pyb::handle a_obj, pyb::handle b_obj, pyb::handle c_obj, bool ta, bool tb, double alpha,
                    double beta) {
    const char* op = "_gemm";
    auto a = py::arg(a_obj, op, "a");
    auto b = py::arg(b_obj, op, "b");
    auto c = py::arg(c_obj, op, "c");
    check_input(op, "a", a.t);
    check_rank(op, "a", a.t, 2, 2);
    check_input_like(op, "b", b.t, a.t);
    check_rank(op, "b", b.t, 2, 2);
    check_input_like(op, "c", c.t, a.t);
    Shape cs = cpu::matmul_check(a.t, b.t, nullptr, ta, tb, op);
    check_shape(op, "c", c.t, cs);
    require_cpu(op, "a", a.t);
    if (!a.t.is_float()) type_error(op, "a", "float32 or float64 only (a test hook for the float GEMM)");
    int64_t M = cs[0], N = cs[1], K = ta ? a.t.size(0) : a.t.size(1);
    pyb::gil_scoped_release nogil;
    if (a.t.dtype == DType::f32)
      cpu::gemm(ta, tb, M, N, K, float(alpha), a.t.ptr<float>(), a.t.size(1), b.t.ptr<float>(), b.t.size(1),
                float(beta), c.t.ptr<float>(), N);
    else
      cpu::gemm(ta, tb, M, N, K, alpha, a.t.ptr<double>(), a.t.size(1), b.t.ptr<double>(), b.t.size(1), beta,
                c.t.ptr<double>(), N);
  });
}
