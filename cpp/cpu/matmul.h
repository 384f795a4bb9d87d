// matmul / dense: c = op(a) @ op(b) (+ bias), batched, with transposes as flags.
//   a: [M,K] or [B,M,K]  ([K,M] / [B,K,M] with trans_a)
//   b: [K,N] or [B,K,N]  ([N,K] / [B,N,K] with trans_b); a 2-D b is shared by every
//      batch of a 3-D a (its gradient sums over the batch)
//   bias: [N];  c: [M,N] or [B,M,N]. All contiguous, float32/float64, one dtype.
#pragma once
#include "core/tensor.h"

namespace tc::cpu {

// Validates a, b, bias (nullptr = none) and returns c's shape. Throws
// ValueError/TypeError "twincore.<op>: argument 'a'|'b'|'bias': ...".
// The problem as GEMMs: `batch` products of [M,K] x [K,N]. A 2-D b shared by a
// 3-D a without trans_a is folded into one GEMM with M' = B*M (a's rows are contiguous).
struct MatmulDims {
  int64_t batch = 1, M = 0, K = 0, N = 0;
  bool b_batched = false;  // b has its own matrix per batch
};
MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

Shape matmul_check(const Tensor& a, const Tensor& b, const Tensor* bias, bool trans_a, bool trans_b,
                   const char* op = "matmul");

// c (preallocated, contiguous, shape from matmul_check) = op(a) @ op(b) + bias.
void matmul(const Tensor& a, const Tensor& b, const Tensor* bias, bool trans_a, bool trans_b,
            const Tensor& c);

// Gradients of sum(grad * c) with c = matmul(a, b, bias): da like a, db like b,
// dbias [N]; each output may be nullptr (not needed). grad has c's shape.
void matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
                     const Tensor* da, const Tensor* db, const Tensor* dbias);

}  // namespace tc::cpu
