// The one GEMM every CPU op builds on (matmul, dense, conv2d via im2col, ...).
// Row-major: C[M,N] = alpha * op(A) * op(B) + beta * C, where op(A) is A[M,K]
// (lda >= K) or, with trans_a, A stored as [K,M] (lda >= M); likewise B.
// beta == 0 overwrites C without reading it (NaN in C does not leak through).
// Multithreaded inside; called from inside a parallel_for it runs on one thread.
#pragma once
#include <cstdint>

namespace tc::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

}  // namespace tc::cpu
