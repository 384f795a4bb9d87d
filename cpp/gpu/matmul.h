// GPU plans of matmul (C = op(A) op(B) + bias, batched) and its backward. Each GEMM is
// first offered to the vendor provider (gpu/blas.h: cuBLASLt in the nvcc build, when
// registered); when there is none, or it refuses, our own kernel runs
// (kernels/cuda/matmul.cu: every transpose and batch layout as strides).
// Shapes as cpu/matmul.h: a [M,K] / [B,M,K] (stored transposed when trans_a), b [K,N] /
// [B,K,N] (likewise), c [M,N] / [B,M,N], bias [N].
#pragma once
#include "gpu/gpu.h"

namespace tc::gpu {

void matmul(Gpu& g, const char* op, const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb,
            const Tensor& c);
// Outputs may be nullptr (not needed): da like a, db like b, dbias [N].
void matmul_backward(Gpu& g, const char* op, const Tensor& grad, const Tensor& a, const Tensor& b, bool ta,
                     bool tb, const Tensor* da, const Tensor* db, const Tensor* dbias);

// Our GEMM kernel's tile edge (64 for float64 and plain float32, 128 with tensor cores) and
// grid: (ceil(M/tile), ceil(N/tile), Z). ValueError naming `op`/`arg` past the grid limits.
int64_t gemm_tile(DType dtype, bool tf32);
void gemm_grid(Launch& l, const char* op, const char* arg, int64_t M, int64_t N, int64_t Z, DType dtype,
               bool tf32);

}  // namespace tc::gpu
