// A vendor GEMM for the GPU plans (matmul, dense, conv2d as GEMM, lstm), behind a
// provider pointer: the nvcc build registers cuBLASLt (cpp/cuda/cublaslt.cc, the library
// loaded at run time with dlopen, so machines without it keep working); without a
// provider, or when it refuses a problem, try_gemm returns false and the plan falls back
// to our own kernels (kernels/cuda/matmul.cu).
//
// Row-major convention throughout: C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C,
// op(A) = A^T when trans_a (A stored [k,m]), likewise B. Leading dimensions in elements
// of the row-major matrices as stored. Batched: `batch` matrices at the given strides.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tc::gpu {

enum class Epilogue : int {
  none = 0,
  bias = 1,       // C += bias[n] (broadcast over rows)
  relu = 2,       // C = relu(C)
  bias_relu = 3,
  tanh = 4,       // (applied after bias when both are set: bias_tanh)
  bias_tanh = 5,
  bgrad = 6,      // additionally bias_grad[n] = sum over rows of op(A)... see below
};

struct GemmDesc {
  DType dtype = DType::f32;  // A, B, C share it; accumulation in float32 (f64: double)
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr; int64_t lda = 0;
  const void* b = nullptr; int64_t ldb = 0;
  void* c = nullptr; int64_t ldc = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;   // beta = 1: accumulate into C
  Epilogue epilogue = Epilogue::none;
  const void* bias = nullptr;  // [n], dtype of C (Epilogue bias*)
  // Epilogue::bgrad: bias_grad[n] = the column sums of the GEMM's B operand (the
  // weight-gradient GEMM dW = X^T . dY with B = dY): cuBLASLt's BGRADB.
  void* bias_grad = nullptr;
  bool allow_tf32 = false;     // float32 inputs may run on TF32 tensor cores
};

// A provider returns true when it ran the GEMM on `stream` of `device`.
using GemmProvider = bool (*)(const GemmDesc&, int device, uintptr_t stream);

void set_gemm_provider(GemmProvider p, const char* name);
const char* gemm_provider_name();  // "cublaslt" or "none"
bool try_gemm(const GemmDesc& d, int device, uintptr_t stream);

}  // namespace tc::gpu
