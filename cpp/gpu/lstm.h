// The GPU plans of lstm (cpp/gpu/lstm.cc): the same arguments as the CPU kernel
// (cpu/lstm.h), validated by the same cpu::lstm_check in the binding; launches
// kernels/cuda/lstm.cu's pointwise kernels between GEMMs (cuBLASLt through try_gemm, or
// matmul.cu's kernel as the fallback).
#pragma once
#include "cpu/lstm.h"
#include "gpu/gpu.h"

namespace tc::gpu {

void lstm(Gpu& g, const cpu::LstmArgs& a, const Tensor* y, const Tensor& h_n, const Tensor& c_n, const Tensor& ws);
void lstm_backward(Gpu& g, const cpu::LstmArgs& a, const Tensor& ws, const Tensor* dy, const Tensor* dh_n,
                   const Tensor* dc_n, const cpu::LstmGrads& out);

}  // namespace tc::gpu
