// A GEMM for a weight that multiplies many small blocks of rows in turn (an LSTM's recurrent
// weight, used at every step): op(B) is packed ONCE into column panels, and each call reads
// its rows of A in place (no A packing), so a step pays only for its FLOPs.
//
//   PackedPanels p = pack_panels(trans_b, K, N, B, ldb);   // op(B) [K, N]
//   gemm_panels(M, A, lda, p, accumulate, C, ldc);         // C[M, N] (+)= A[M, K] @ op(B)
//
// gemm_panels is serial (the caller splits rows over threads). Every C element sums
// k = 0..K-1 in order onto its start value (C when accumulating, else 0), so a row's result
// depends neither on M nor on how the rows are split. The panel width follows the SIMD path
// in use when packing (tc::cpu_isa()); gemm_panels runs the path the panels were packed for.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "core/cpu_features.h"

namespace tc::cpu {

template <typename T>
struct PackedPanels {
  int64_t K = 0, N = 0, nr = 0;  // panel q holds columns [q*nr, q*nr + nr) as [K, nr], zero past N
  Isa isa = Isa::generic;
  std::unique_ptr<T, decltype(&std::free)> data{nullptr, &std::free};  // 64-byte aligned
  std::unique_ptr<T, decltype(&std::free)> bias{nullptr, &std::free};  // [N] padded to whole panels, or null
};

// op(B)(k, j) = trans_b ? B[j*ldb + k] : B[k*ldb + j]. With a bias [N], every gemm_panels on
// these panels computes C = bias + A @ op(B) (the sum starts from the bias; `accumulate` unused).
PackedPanels<float> pack_panels(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb,
                                const float* bias = nullptr);
PackedPanels<double> pack_panels(bool trans_b, int64_t K, int64_t N, const double* B, int64_t ldb,
                                 const double* bias = nullptr);

void gemm_panels(int64_t M, const float* A, int64_t lda, const PackedPanels<float>& B, bool accumulate, float* C,
                 int64_t ldc);
void gemm_panels(int64_t M, const double* A, int64_t lda, const PackedPanels<double>& B, bool accumulate, double* C,
                 int64_t ldc);

// C[M, N] = A^T @ B with A stored [K, M] (lda) and B [K, N] (ldb), both row-major: the weight
// gradient of a layer over K rows (an LSTM's dW = dG^T @ x over all T*B rows); with a second
// part, also C2[M, N2] = A^T @ B2 in the same pass over A (an LSTM's dw_ih and dw_hh share dG).
// A and B are packed in K slices (A's columns by the thread that uses them, B by every thread).
// Overwrites C; parallel inside (blocks of C's rows); every element sums k = 0..K-1 in order, so
// the result is the same bit for bit for any thread count.
template <typename T>
struct TnPart {
  int64_t N = 0;
  const T* B = nullptr;
  int64_t ldb = 0;
  T* C = nullptr;  // [M, N], row stride ldc
  int64_t ldc = 0;
};
void gemm_tn(int64_t M, int64_t K, const float* A, int64_t lda, TnPart<float> p0, TnPart<float> p1 = {});
void gemm_tn(int64_t M, int64_t K, const double* A, int64_t lda, TnPart<double> p0, TnPart<double> p1 = {});

}  // namespace tc::cpu
