#include "gpu/conv2d.h"

#include <algorithm>
#include <string>

#include "gpu/activations.h"
#include "gpu/matmul.h"

namespace tc::gpu {
namespace {

Conv2dForwardPlan g_fwd_plan = nullptr;
Conv2dBackwardPlan g_bwd_plan = nullptr;

struct Geo {
  int64_t N, C, H, W, O;
};

Geo geo_of(const Tensor& x, const Tensor& w, bool nhwc) {
  Geo s;
  s.N = x.size(0);
  s.C = nhwc ? x.size(3) : x.size(1);
  s.H = nhwc ? x.size(1) : x.size(2);
  s.W = nhwc ? x.size(2) : x.size(3);
  s.O = nhwc ? w.size(3) : w.size(0);
  return s;
}

// The 15 geometry slots of TC_GEO_PARAMS, then nhwc and tf32.
Launch& geo_slots(Launch& l, const Geo& s, const Window2d& g, bool nhwc, bool tf32) {
  return l.i(s.N).i(s.C).i(s.H).i(s.W).i(s.O).i(g.kh).i(g.kw).i(g.oh).i(g.ow).i(g.sh).i(g.sw).i(g.dh).i(g.dw)
      .i(g.pad_top).i(g.pad_left).i(nhwc).i(tf32);
}

}  // namespace

int set_conv2d_gemm_plans(Conv2dForwardPlan forward, Conv2dBackwardPlan backward) {
  g_fwd_plan = forward;
  g_bwd_plan = backward;
  return 0;
}

void conv2d(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& geo, bool nhwc,
            const Tensor& y, cpu::Act act) {
  // >>> conv-as-GEMM (cuBLASLt with fused epilogues) first, when registered <<<
  if (g_fwd_plan && g_fwd_plan(g, x, w, bias, geo, nhwc, y, act)) return;
  const Geo s = geo_of(x, w, nhwc);
  const bool tf32 = x.dtype == DType::f32 && g.allow_tf32;
  const int64_t M = nhwc ? s.N * geo.oh * geo.ow : s.O, Nn = nhwc ? s.O : geo.oh * geo.ow, Z = nhwc ? 1 : s.N;
  Launch l("conv2d.cu", std::string("conv2d_") + suffix(x.dtype));
  gemm_grid(l, "conv2d", "x", M, Nn, Z, x.dtype, tf32);
  g.launch(geo_slots(l.p(x).p(w).p(bias).p(y), s, geo, nhwc, tf32));
  activate_inplace(g, act, y);  // a separate elementwise pass (our kernel does not fuse it)
}

void conv2d_backward(Gpu& g, const Tensor& grad_in, const Tensor& x, const Tensor& w, const Window2d& geo,
                     bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y,
                     cpu::Act act) {
  const char* op = "conv2d_backward";
  Tensor grad = grad_in;
  if (act != cpu::Act::none) {  // d (conv) = grad * act'(y)
    grad = g.scratch(grad_in.shape, grad_in.dtype);
    activation_backward(g, act, grad_in, *y, grad);
  }
  // >>> conv-as-GEMM (cuBLASLt) first, when registered <<<
  if (g_bwd_plan && g_bwd_plan(g, grad, x, w, geo, nhwc, dx, dw, dbias)) return;
  const Geo s = geo_of(x, w, nhwc);
  const DType dt = grad.dtype;
  const bool tf32 = dt == DType::f32 && g.allow_tf32;
  const std::string sfx = suffix(dt);
  if (dx) {
    const int64_t M = nhwc ? s.N * s.H * s.W : s.C, Nn = nhwc ? s.C : s.H * s.W, Z = nhwc ? 1 : s.N;
    Launch l("conv2d.cu", "conv2d_backward_input_" + sfx);
    gemm_grid(l, op, "grad", M, Nn, Z, dt, tf32);
    g.launch(geo_slots(l.p(grad).p(w).p(dx), s, geo, nhwc, tf32));
  }
  if (dw) {
    const int64_t K = s.C * geo.kh * geo.kw;
    Launch l("conv2d.cu", "conv2d_backward_weight_" + sfx);
    gemm_grid(l, op, "grad", nhwc ? K : s.O, nhwc ? s.O : K, 1, dt, tf32);
    g.launch(geo_slots(l.p(grad).p(x).p(dw), s, geo, nhwc, tf32));
  }
  if (dbias)
    g.launch(Launch("conv2d.cu", "conv2d_backward_bias_" + sfx)
                 .grid1(std::min<int64_t>(s.O, 65535)).p(grad).p(dbias).i(s.N).i(s.O).i(geo.oh * geo.ow).i(nhwc));
}

}  // namespace tc::gpu
