// conv2d on the GPU as explicit im2col + the vendor GEMM (blas.h: cuBLASLt), both layouts,
// every dtype (f32 with TF32 when gpu.allow_tf32, f16/bf16 with f32 accumulation, f64).
// Plans only: kernels of kernels/cuda/conv2d.cu go to the Gpu executor, GEMMs to try_gemm.
// Semantics as cpu/conv2d.h (the binding has validated with cpu::conv2d_check and
// allocated the outputs):
//   NCHW: x [N,C,H,W], w [O,C,KH,KW] (torch), y [N,O,OH,OW]
//   NHWC: x [N,H,W,C], w [KH,KW,C,O] (Keras), y [N,OH,OW,O]
//
//             GEMM (row-major, per chunk of nb images; P = OH*OW)               epilogue
//   forward   NHWC  y[nb*P, O]  = col[nb*P, KH*KW*C] . w[KH*KW*C, O]           bias(+relu)
//             NCHW  y[j][O, P]  = w[O, C*KH*KW] . col[j][C*KH*KW, P]  (batched) kernel pass
//   d weight  NHWC  dw[K, O]   += col[nb*P, K]^T . dy[nb*P, O]   (K of the GEMM = nb*P) bgrad
//             NCHW  dw[O, K]   += dyT[O, nb*P] . col[K, nb*P]^T (dyT: dy transposed)
//   d input   NHWC  dcol[nb*P, K] = dy[nb*P, O] . w[K, O]^T, then col2im (gather)
//             NCHW  dcol[j][K, P] = w[O, K]^T . dy[j][O, P] (batched), then col2im
// The weight gradient is ONE GEMM per chunk whose reduction runs over nb*OH*OW (cuBLASLt
// splits it); with the scratch limit at its default the document CNN at batch 1024 is one
// chunk. 1x1 / stride 1 / no padding: the col matrix is x itself (no im2col, no col2im in
// NHWC). The col buffers are bounded by `scratch_limit` bytes (chunks of the batch).
// Epilogues the GEMM provider refuses (tanh always; others per library) run as the
// conv2d_bias_act kernel after the GEMM; a bias gradient it refuses runs as
// conv2d_backward_bias (deterministic, one block per channel).
#pragma once
#include <cstdint>

#include "core/geometry.h"
#include "core/tensor.h"
#include "cpu/activations.h"
#include "gpu/gpu.h"

namespace tc::gpu {

constexpr int64_t kConvScratchLimit = int64_t(256) << 20;

// y = act(conv(x, w) + bias) (bias may be nullptr). Returns false, having launched nothing,
// when no GEMM provider is registered or usable (cuBLASLt not found), and false when the provider refuses a GEMM (then y
// is unspecified): the caller runs its own implicit-GEMM kernels instead.
bool conv2d_gemm_forward(Gpu& gpu, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g,
                         bool nhwc, const Tensor& y, cpu::Act act = cpu::Act::none,
                         int64_t scratch_limit = kConvScratchLimit);

// From grad = dL/dy: dx, dw, dbias (each may be nullptr: not needed). With act, y is the
// forward's output and grad is taken through the activation first. Returns false as above
// (the requested outputs are then unspecified and the caller recomputes them all).
bool conv2d_gemm_backward(Gpu& gpu, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                          bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias,
                          const Tensor* y = nullptr, cpu::Act act = cpu::Act::none,
                          int64_t scratch_limit = kConvScratchLimit);

}  // namespace tc::gpu
