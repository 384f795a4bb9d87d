// matmul / dense on the tape, on the shared GEMM (cpp/cpu/gemm.h).
// C = op(A) op(B) (+ bias); the backward is two more GEMMs and a column sum:
//   dA = G op(B)^T   (stored transposed when trans_a),
//   dB = op(A)^T G   (stored transposed when trans_b),   dbias = sum over rows of G.
#include "core/dispatch.h"
#include "cpu/gemm.h"
#include "tape/ops.h"

namespace tc::tape {
namespace {

struct Dims {
  int64_t M, K, N;
};

template <typename T>
void add_bias(T* c, const T* bias, int64_t M, int64_t N) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) c[i * N + j] += bias[j];
}

template <typename T>
void backward(const Dims& d, bool ta, bool tb, const T* A, const T* B, const T* G, T* dA, T* dB,
              T* dbias) {
  const int64_t M = d.M, K = d.K, N = d.N;
  if (dA) {
    if (!ta && !tb) cpu::gemm(false, true, M, K, N, T(1), G, N, B, N, T(0), dA, K);
    if (!ta && tb) cpu::gemm(false, false, M, K, N, T(1), G, N, B, K, T(0), dA, K);
    if (ta && !tb) cpu::gemm(false, true, K, M, N, T(1), B, N, G, N, T(0), dA, M);
    if (ta && tb) cpu::gemm(true, true, K, M, N, T(1), B, K, G, N, T(0), dA, M);
  }
  if (dB) {
    if (!ta && !tb) cpu::gemm(true, false, K, N, M, T(1), A, K, G, N, T(0), dB, N);
    if (ta && !tb) cpu::gemm(false, false, K, N, M, T(1), A, M, G, N, T(0), dB, N);
    if (!ta && tb) cpu::gemm(true, false, N, K, M, T(1), G, N, A, K, T(0), dB, K);
    if (ta && tb) cpu::gemm(true, true, N, K, M, T(1), G, N, A, M, T(0), dB, K);
  }
  if (dbias)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) dbias[j] += G[i * N + j];
}

}  // namespace

VarPtr matmul(const VarPtr& a, const VarPtr& b, const VarPtr& bias, bool ta, bool tb) {
  const char* op = "matmul";
  const Tensor &A = a->t(), &B = b->t();
  check_input(op, "a", A);
  check_input_like(op, "b", B, A);
  check_rank(op, "a", A, 2, ta ? 2 : kMaxDims);  // leading axes of a are rows (batch, time, ...)
  check_rank(op, "b", B, 2, 2);
  Dims d;
  d.K = ta ? A.size(0) : A.size(-1);
  d.M = A.numel() / d.K;
  d.N = tb ? B.size(0) : B.size(1);
  int64_t kb = tb ? B.size(1) : B.size(0);
  if (kb != d.K)
    value_error(op, "b", "inner dimensions differ: op(a) is ", d.M, "x", d.K, " but op(b) is ", kb,
                "x", d.N, " (a ", A.shape.str(), ", b ", B.shape.str(), ")");
  if (bias) {
    check_input_like(op, "bias", bias->t(), A);
    check_shape(op, "bias", bias->t(), Shape{d.N});
  }
  Shape cs = A.shape;
  if (ta) cs = Shape{d.M, d.N};
  cs[cs.ndim - 1] = d.N;
  VarPtr c = new_var(cs, A.dtype);
  TC_FLOAT_TYPES(op, A.dtype, T, {
    T* C = c->t().ptr<T>();
    cpu::gemm(ta, tb, d.M, d.N, d.K, T(1), A.ptr<T>(), ta ? d.M : d.K, B.ptr<T>(), tb ? d.K : d.N,
              T(0), C, d.N);
    if (bias) add_bias(C, bias->t().ptr<T>(), d.M, d.N);
  });
  if (!needs_record({&a, &b, &bias})) return c;
  record(op, {a, b, bias}, c, [a, b, d, ta, tb](const Tensor& g, Tensor* const* gin) {
    TC_FLOAT_TYPES("gradient", g.dtype, T, {
      backward<T>(d, ta, tb, a->t().ptr<T>(), b->t().ptr<T>(), g.ptr<T>(),
                  gin[0] ? gin[0]->ptr<T>() : nullptr, gin[1] ? gin[1]->ptr<T>() : nullptr,
                  gin[2] ? gin[2]->ptr<T>() : nullptr);
    });
  });
  return c;
}

}  // namespace tc::tape
