// conv_transpose2d on the GPU runs on conv2d's kernels (conv2d.cu), as on the CPU:
//   forward      y  = conv2d_backward_input(dy := x, w)   (the conv y -> x's input gradient)
//   d input      dx = conv2d(grad, w)                      (no bias)
//   d weight     dw = conv2d_backward_weight(dy := x, x := grad)
//   d bias       db = conv2d_backward_bias(grad) over the Cout channels
// with conv2d's geometry of the conv y -> x (the host resolves padding and output_padding,
// cpp/cpu/conv_transpose2d.h). This file adds what conv2d lacks: the forward's bias.
// y [N, C, P] (NCHW, P = OH*OW) or [N, P, C] (NHWC): y[., c] += bias[c].
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void add_bias_body(T* y, const T* b, i64 N, i64 C, i64 P, i64 nhwc) {
  TC_GRID_LOOP(i, N * C * P) {
    const i64 c = nhwc ? i % C : (i / P) % C;
    st(y, i, ld(y, i) + ld(b, c));
  }
}

#define TC_CONVT(S, T)                                                                               \
  extern "C" __global__ void conv_transpose2d_bias_##S(T* y, const T* b, i64 N, i64 C, i64 P, i64 nhwc) { \
    add_bias_body(y, b, N, C, P, nhwc);                                                              \
  }                                                                                                  \
  TC_REGISTER(conv_transpose2d_bias_##S)
TC_FOR_FLOATS(TC_CONVT)
#undef TC_CONVT
