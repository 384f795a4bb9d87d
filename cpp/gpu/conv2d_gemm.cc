// conv2d as im2col + vendor GEMM: the plans of conv2d_gemm.h.
#include "gpu/conv2d_gemm.h"

#include <algorithm>
#include <cstring>

#include "gpu/blas.h"
#include "gpu/conv2d.h"
#include "gpu/gemm_reference.h"

namespace tc::gpu {
namespace {

const char* sfx_of(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    default: return "bf16";
  }
}

// A provider is registered and can run (cuBLASLt: the library was found): else decline
// before launching anything.
bool provider_usable() { return gemm_provider() && std::strcmp(gemm_provider_active(), "none") != 0; }

// Grid-stride kernels: enough blocks to fill an H100/H200 several times over.
int64_t grid_for(int64_t n) { return std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 65535 * 16)); }

struct Geo {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl;
  bool direct;  // 1x1, stride 1, no padding: col == x
};

Geo geo_of(const Tensor& x, const Tensor& w, const Window2d& g, bool nhwc) {
  Geo o;
  o.N = x.size(0);
  o.C = nhwc ? x.size(3) : x.size(1);
  o.H = g.ih;
  o.W = g.iw;
  o.O = nhwc ? w.size(3) : w.size(0);
  o.KH = g.kh;
  o.KW = g.kw;
  o.OH = g.oh;
  o.OW = g.ow;
  o.sh = g.sh;
  o.sw = g.sw;
  o.dh = g.dh;
  o.dw = g.dw;
  o.pt = g.pad_top;
  o.pl = g.pad_left;
  o.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_bottom == 0 &&
             g.pad_left == 0 && g.pad_right == 0;
  return o;
}

Launch& geo_args(Launch& l, const Geo& g) {
  for (int64_t v : {g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl}) l.i(v);
  return l;
}

const void* at(const Tensor& t, int64_t elems) {
  return static_cast<const char*>(t.data) + elems * dtype_size(t.dtype);
}
void* at_mut(const Tensor& t, int64_t elems) { return static_cast<char*>(t.data) + elems * dtype_size(t.dtype); }

GemmDesc desc_for(const Gpu& gpu, DType dt) {
  GemmDesc d;
  d.dtype = dt;
  d.allow_tf32 = gpu.allow_tf32 && dt == DType::f32;
  return d;
}

// Images per chunk: the scratch of one image is `per_image` elements; at least 1, at most N,
// and small enough that the GEMM's dimensions stay below 2^31 (cuBLASLt's int32).
int64_t chunk(int64_t N, int64_t per_image, int64_t elt, int64_t limit, int64_t rows_per_image) {
  int64_t nb = per_image > 0 ? limit / std::max<int64_t>(1, per_image * elt) : N;
  nb = std::min(nb, int64_t(INT32_MAX) / std::max<int64_t>(1, rows_per_image));
  return std::max<int64_t>(1, std::min(N, nb));
}

// bias + act over y (a chunk of `total` elements): the epilogue part the GEMM did not do.
void bias_act(Gpu& gpu, const char* sfx, void* y, const void* bias, int64_t total, int64_t O, int64_t P, bool nhwc,
              cpu::Act act) {
  if (!bias && act == cpu::Act::none) return;
  Launch l("conv2d.cu", std::string("conv2d_bias_act_") + sfx);
  l.p(y).p(bias).i(total).i(O).i(P).i(nhwc).i(int64_t(act)).grid1(grid_for(total)).block1(256);
  gpu.launch(l);
}

// The GEMM with as much of (bias, act) fused as the provider takes; the rest as a kernel.
bool gemm_then(Gpu& gpu, GemmDesc d, const char* sfx, const void* bias, cpu::Act act, int64_t total, int64_t O,
               int64_t P, bool nhwc) {
  Epilogue want = Epilogue::none;
  if (nhwc) {  // bias runs along the GEMM's columns only in NHWC (N = O)
    if (bias && act == cpu::Act::relu) want = Epilogue::bias_relu;
    else if (bias) want = Epilogue::bias;
    else if (act == cpu::Act::relu) want = Epilogue::relu;
  }
  if (want != Epilogue::none) {
    d.epilogue = want;
    d.bias = bias;
    if (try_gemm(d, gpu.device, gpu.stream)) {
      if (act == cpu::Act::tanh) bias_act(gpu, sfx, d.c, nullptr, total, O, P, nhwc, act);
      return true;
    }
  }
  d.epilogue = Epilogue::none;
  d.bias = nullptr;
  if (!try_gemm(d, gpu.device, gpu.stream)) return false;
  bias_act(gpu, sfx, d.c, bias, total, O, P, nhwc, act);
  return true;
}

}  // namespace

bool conv2d_gemm_forward(Gpu& gpu, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& win,
                         bool nhwc, const Tensor& y, cpu::Act act, int64_t scratch_limit) {
  if (!provider_usable()) return false;
  const Geo g = geo_of(x, w, win, nhwc);
  const DType dt = x.dtype;
  const char* sfx = sfx_of(dt);
  const int64_t elt = dtype_size(dt), P = g.OH * g.OW, K = g.C * g.KH * g.KW;
  const void* b = bias ? bias->data : nullptr;
  const int64_t nb = chunk(g.N, g.direct ? 0 : P * K, elt, scratch_limit, nhwc ? P : 1);
  Tensor col;
  if (!g.direct) col = gpu.scratch(Shape{nb * P * K}, dt);
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t cur = std::min(nb, g.N - n0);
    const void* src = g.direct ? at(x, n0 * P * K) : col.data;  // direct: P = H*W, K = C
    if (!g.direct) {
      Launch l("conv2d.cu", std::string(nhwc ? "conv2d_im2col_nhwc_" : "conv2d_im2col_nchw_") + sfx);
      geo_args(l.p(x).p(col), g).i(n0).i(cur);
      if (!nhwc) l.i(1);  // by image: [cur][K][P]
      gpu.launch(l.grid1(grid_for(cur * P * K)).block1(256));
    }
    GemmDesc d = desc_for(gpu, dt);
    void* out = at_mut(y, n0 * P * g.O);
    if (nhwc) {  // y[cur*P, O] = col[cur*P, K] . w[K, O]
      d.m = cur * P; d.n = g.O; d.k = K;
      d.a = src; d.lda = K; d.b = w.data; d.ldb = g.O; d.c = out; d.ldc = g.O;
    } else {  // y[j][O, P] = w[O, K] . col[j][K, P]
      d.m = g.O; d.n = P; d.k = K; d.batch = cur;
      d.a = w.data; d.lda = K; d.stride_a = 0;
      d.b = src; d.ldb = P; d.stride_b = K * P;
      d.c = out; d.ldc = P; d.stride_c = g.O * P;
    }
    if (!gemm_then(gpu, d, sfx, b, act, cur * P * g.O, g.O, P, nhwc)) return false;
  }
  return true;
}

bool conv2d_gemm_backward(Gpu& gpu, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& win,
                          bool nhwc, const Tensor* dx, const Tensor* dw, const Tensor* dbias, const Tensor* y,
                          cpu::Act act, int64_t scratch_limit) {
  if (!provider_usable()) return false;
  if (!dx && !dw && !dbias) return true;
  const Geo g = geo_of(x, w, win, nhwc);
  const DType dt = x.dtype;
  const char* sfx = sfx_of(dt);
  const int64_t elt = dtype_size(dt), P = g.OH * g.OW, K = g.C * g.KH * g.KW;
  // grad through the activation first (the forward applied it): dz = grad * act'(y).
  const void* dy = grad.data;
  if (act != cpu::Act::none && y) {
    Tensor dz = gpu.scratch(grad.shape, dt);
    Launch l("conv2d.cu", std::string("conv2d_act_grad_") + sfx);
    l.p(grad).p(y).p(dz).i(grad.numel()).i(int64_t(act)).grid1(grid_for(grad.numel())).block1(256);
    gpu.launch(l);
    dy = dz.data;
  }
  auto dy_at = [&](int64_t elems) { return static_cast<const char*>(dy) + elems * elt; };
  // Scratch per image: col (dw) + dcol (dx) + dy transposed (NCHW dw).
  const bool col_w = dw != nullptr && !(nhwc && g.direct);
  const bool col_x = dx != nullptr && !g.direct;
  const int64_t per = (col_w ? P * K : 0) + (col_x ? P * K : 0) + (dw && !nhwc ? g.O * P : 0);
  const int64_t nb = chunk(g.N, per, elt, scratch_limit, P);
  Tensor col, dcol, dyt;
  if (col_w) col = gpu.scratch(Shape{nb * P * K}, dt);
  if (col_x) dcol = gpu.scratch(Shape{nb * P * K}, dt);
  if (dw && !nhwc) dyt = gpu.scratch(Shape{nb * g.O * P}, dt);
  // The bias gradient fused into the weight GEMM (BGRAD) needs the whole batch in one GEMM.
  bool db_done = dbias == nullptr;
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t cur = std::min(nb, g.N - n0);
    if (dw) {
      GemmDesc d = desc_for(gpu, dt);
      d.beta = n0 > 0 ? 1.0 : 0.0;  // accumulate over chunks
      d.c = dw->data;
      if (nhwc) {  // dw[K, O] (+)= col[cur*P, K]^T . dy[cur*P, O]
        const void* src = x.data;
        if (g.direct) {
          src = at(x, n0 * P * K);
        } else {
          Launch l("conv2d.cu", std::string("conv2d_im2col_nhwc_") + sfx);
          geo_args(l.p(x).p(col), g).i(n0).i(cur);
          gpu.launch(l.grid1(grid_for(cur * P * K)).block1(256));
          src = col.data;
        }
        d.trans_a = true;
        d.m = K; d.n = g.O; d.k = cur * P;
        d.a = src; d.lda = K; d.b = dy_at(n0 * P * g.O); d.ldb = g.O; d.ldc = g.O;
        if (!db_done && cur == g.N) {  // one chunk: the bias gradient in the same GEMM
          GemmDesc e = d;
          e.epilogue = Epilogue::bgrad;
          e.bias_grad = dbias->data;
          db_done = try_gemm(e, gpu.device, gpu.stream);
          if (!db_done && !try_gemm(d, gpu.device, gpu.stream)) return false;
        } else if (!try_gemm(d, gpu.device, gpu.stream)) {
          return false;
        }
      } else {  // dw[O, K] (+)= dyT[O, cur*P] . col[K, cur*P]^T
        Launch t("conv2d.cu", std::string("conv2d_to_cnhw_") + sfx);
        t.p(dy_at(n0 * g.O * P)).p(dyt).i(cur).i(g.O).i(P).grid1(grid_for(cur * g.O * P)).block1(256);
        gpu.launch(t);
        Launch l("conv2d.cu", std::string("conv2d_im2col_nchw_") + sfx);
        geo_args(l.p(x).p(col), g).i(n0).i(cur).i(0);  // [K][cur*P]
        gpu.launch(l.grid1(grid_for(cur * P * K)).block1(256));
        d.trans_b = true;
        d.m = g.O; d.n = K; d.k = cur * P;
        d.a = dyt.data; d.lda = cur * P; d.b = col.data; d.ldb = cur * P; d.ldc = K;
        if (!try_gemm(d, gpu.device, gpu.stream)) return false;
      }
    }
    if (dx) {
      GemmDesc d = desc_for(gpu, dt);
      void* target = g.direct ? at_mut(*dx, n0 * P * K) : dcol.data;  // direct: P = H*W, K = C
      if (nhwc) {  // dcol[cur*P, K] = dy[cur*P, O] . w[K, O]^T
        d.trans_b = true;
        d.m = cur * P; d.n = K; d.k = g.O;
        d.a = dy_at(n0 * P * g.O); d.lda = g.O; d.b = w.data; d.ldb = g.O; d.c = target; d.ldc = K;
      } else {  // dcol[j][K, P] = w[O, K]^T . dy[j][O, P]
        d.trans_a = true;
        d.m = K; d.n = P; d.k = g.O; d.batch = cur;
        d.a = w.data; d.lda = K; d.stride_a = 0;
        d.b = dy_at(n0 * g.O * P); d.ldb = P; d.stride_b = g.O * P;
        d.c = target; d.ldc = P; d.stride_c = K * P;
      }
      if (!try_gemm(d, gpu.device, gpu.stream)) return false;
      if (!g.direct) {
        Launch l("conv2d.cu", std::string("conv2d_col2im_") + sfx);
        geo_args(l.p(dcol).p(*dx), g).i(n0).i(cur).i(nhwc);
        gpu.launch(l.grid1(grid_for(cur * g.C * g.H * g.W)).block1(256));
      }
    }
  }
  if (!db_done) {  // deterministic: one block per channel, a fixed-order sum
    Launch l("conv2d.cu", std::string("conv2d_backward_bias_") + sfx);
    l.p(dy).p(*dbias).i(g.N).i(g.O).i(P).i(nhwc).grid1(std::min<int64_t>(g.O, 65535)).block1(256);
    gpu.launch(l);
  }
  return true;
}

namespace {
// conv2d's plans (cpp/gpu/conv2d.cc) try these first once registered.
bool forward_plan(Gpu& g, const Tensor& x, const Tensor& w, const Tensor* bias, const Window2d& geo, bool nhwc,
                  const Tensor& y, cpu::Act act) {
  return conv2d_gemm_forward(g, x, w, bias, geo, nhwc, y, act);
}
bool backward_plan(Gpu& g, const Tensor& grad, const Tensor& x, const Tensor& w, const Window2d& geo, bool nhwc,
                   const Tensor* dx, const Tensor* dw, const Tensor* dbias) {
  return conv2d_gemm_backward(g, grad, x, w, geo, nhwc, dx, dw, dbias);
}
[[maybe_unused]] const int registered = set_conv2d_gemm_plans(&forward_plan, &backward_plan);
}  // namespace

}  // namespace tc::gpu
