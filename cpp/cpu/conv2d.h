// 2-D convolution (cross-correlation, as torch and TF define it), forward and backward.
//   NCHW: x [N,C,H,W], w [O,C,KH,KW] (OIHW, torch), y [N,O,OH,OW]
//   NHWC: x [N,H,W,C], w [KH,KW,C,O] (HWIO, TF),    y [N,OH,OW,O]
// bias [O]. Both layouts are computed natively (no transposes of activations):
// NCHW by im2col + W[O, C*KH*KW] x col[C*KH*KW, OH*OW]; NHWC by gathering patch rows
// (contiguous over C) + P[OH*OW, KH*KW*C] x W[KH*KW*C, O]. Two kinds of direct loops
// replace the GEMM where it would mostly pack: an inner dimension KH*KW*C below 16 (both
// layouts; dw and dbias in one pass), and NHWC with a weight that fits L2 (forward, dw,
// and dx when C fills 64-byte vectors), reading patches from a zero-padded image.
// All tensors contiguous, float32 or float64, one dtype.
#pragma once
#include <cstdint>
#include <utility>

#include "core/geometry.h"
#include "core/tensor.h"
#include "cpu/activations.h"

namespace tc::cpu {

// Validates x, w, bias (rank 4, dtype, channel match -> 'w', bias [O] -> 'bias') and the
// geometry (stride, padding, dilation, kernel vs padded input -> 'w'); sets *out_shape.
// `op` names the op in error messages (the backward passes "conv2d_backward").
Window2d conv2d_check(const Tensor& x, const Tensor& w, const Tensor* bias,
                      std::pair<int64_t, int64_t> stride, PadSpec padding,
                      std::pair<int64_t, int64_t> dilation, bool nhwc, Shape* out_shape,
                      const char* op = "conv2d");

// y = act(conv(x, w) + bias) (bias may be nullptr); y preallocated with conv2d_check's shape.
// The activation is applied to each block of y as it is computed (no second pass).
void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& g, bool nhwc,
            const Tensor& y, Act act = Act::none);

// From grad = dL/dy: dx (x's shape), dw (w's shape), dbias [O]; each may be nullptr (not needed).
// With act, y is the forward's output and grad is taken through the activation first, block
// by block (dL/d(conv) = grad * act'(y)), as the fused forward applied it.
void conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& g,
                     bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias,
                     const Tensor* y = nullptr, Act act = Act::none);

// conv2d's NHWC direct kernels, shared with conv_transpose2d's NCHW path (which runs them on
// per-image NHWC copies). xp: one zero-padded NHWC image; base[r]: offset in xp of output pixel
// r's patch corner; off[k]: offset of patch value k = (kh, kw, c) from it; R pixels, K = KH*KW*C.
//   fwd: y[r, o] = bias[o] (or 0) + sum_k xp[base[r] + off[k]] * W[k, o]
//   dw:  dw[k, o] += sum_r xp[base[r] + off[k]] * G[r, o]
//   dx:  dxp[base[r] + off[k]] += sum_o G[r, o] * Wt[o, k]   (needs C a multiple of 64 bytes)
// Each runs the widest ISA path of the CPU, on the calling thread.
#define TC_CONV_DIRECT_DECL(T)                                                                        \
  void conv2d_direct_fwd(const T* xp, const int64_t* base, const int64_t* off, const T* W, const T* bias, \
                         T* y, int64_t R, int64_t K, int64_t O);                                      \
  void conv2d_direct_dw(const T* xp, const int64_t* base, const int64_t* off, const T* G, T* dw,       \
                        int64_t R, int64_t K, int64_t O);                                             \
  void conv2d_direct_dx(const T* G, const T* Wt, T* dxp, const int64_t* base, const int64_t* off,      \
                        int64_t R, int64_t K, int64_t O);
TC_CONV_DIRECT_DECL(float)
TC_CONV_DIRECT_DECL(double)
#undef TC_CONV_DIRECT_DECL

// Whether conv2d's NHWC path runs the direct kernels for a conv with KK = KH*KW*C patch values
// and O output channels (element size `bytes`); dx too when `dx` (C fills 64-byte vectors).
bool conv2d_direct_fits(int64_t KK, int64_t O, int64_t C, int64_t bytes, bool direct_1x1, bool dx);

}  // namespace tc::cpu
