// conv2d for float16/bfloat16 tensors on the CPU (cpu::conv2d / conv2d_backward call these for
// half dtypes; same arguments and layouts as cpu/conv2d.h).
//
// bfloat16 where the native bf16 GEMM runs (cpu/gemm_half.h: AVX512-BF16, the avx512 path, not
// switched off): the patches are gathered as bf16 (im2col NCHW / patch rows NHWC: the bits are
// copied, nothing converted), packed per image into the GEMM's pair layout, and multiplied with
// vdpbf16ps into float32; the weight is packed once per call. Outputs are rounded to bf16 once:
// y after bias and activation; dx after col2im / the patch scatter in float32; dw and dbias
// after the whole batch is summed in float32 (dbias in double). As torch's CPU bf16 conv does,
// grad is taken through a fused activation in float32 and rounded to bf16 before its GEMMs.
// Everything else (float16, CPUs without AVX512-BF16, TWINCORE_ISA below avx512, NHWC patches of
// fewer than 16 values): the float32 kernels on converted copies (core/half.h), as every other op.
#pragma once

#include "core/geometry.h"
#include "core/tensor.h"
#include "cpu/activations.h"

namespace tc::cpu {

// True when a conv2d of x with window g takes the native bf16 path now (bf16, the native GEMM
// on, and not an NHWC patch of fewer than 16 values).
bool conv2d_half_native(const Tensor& x, const Window2d& g, bool nhwc);

void conv2d_half(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
                 const Tensor& y, Act act);

void conv2d_backward_half(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc,
                          const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y, Act act);

}  // namespace tc::cpu
