// matmul for float16/bfloat16 tensors on the CPU, and the bf16 GEMM behind it.
//
// bfloat16 on CPUs with AVX512-BF16 (and the avx512 path selected): a native GEMM whose
// micro-kernel multiplies pairs of bf16 with vdpbf16ps into float32 accumulators; the operands
// are packed once, as bf16 (half the bytes of a float32 copy), and only the float32 result
// rows are rounded back. Everything else (float16, other CPUs, TWINCORE_ISA below avx512):
// the float32 kernels on converted copies (half::Scope), as every other op.
//
// vdpbf16ps treats denormal inputs as zero and flushes denormal results (it ignores MXCSR):
// values below ~1.2e-38 count as 0 in these products, as in oneDNN's bf16 GEMMs.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tc::cpu {

// True when bf16 matmuls take the native path now (CPU flag, cpu_isa() == avx512, and not
// switched off by set_half_gemm_native(false), which benchmarks and tests use to compare).
bool half_gemm_native();
void set_half_gemm_native(bool enabled);

// C[M,N] (float32) = op(A) op(B) (+ C when accumulate); A, B bfloat16 bits, row-major as
// gemm.h (lda/ldb: row lengths as stored). Requires half_gemm_native().
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// The same GEMM on operands the caller packs (conv2d_half.cc packs its weight once per call and
// each image's patches or gradient into its own scratch), serial on the calling thread.
// Packed op(A) [M,K] takes bf16_packed_a_size(M, K) uint16 values, packed op(B) [K,N]
// bf16_packed_b_size(N, K); the pack functions take A, B as gemm_bf16 does. Requires
// half_gemm_native().
int64_t bf16_packed_a_size(int64_t M, int64_t K);
int64_t bf16_packed_b_size(int64_t N, int64_t K);
void bf16_pack_a(bool trans_a, int64_t M, int64_t K, const uint16_t* A, int64_t lda, uint16_t* out);
void bf16_pack_b(bool trans_b, int64_t N, int64_t K, const uint16_t* B, int64_t ldb, uint16_t* out);
void gemm_bf16_packed(int64_t M, int64_t N, int64_t K, const uint16_t* packed_a, const uint16_t* packed_b, float* C,
                      int64_t ldc, bool accumulate);

// cpu::matmul / matmul_backward for half tensors (called by them; same arguments).
void matmul_half(const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb, const Tensor& c);
void matmul_backward_half(const Tensor& grad, const Tensor& a, const Tensor& b, bool ta, bool tb,
                          const Tensor* da, const Tensor* db, const Tensor* dbias);

}  // namespace tc::cpu
