// lstm's GPU plan: the CPU kernel's algorithm (cpu/lstm.h) as launches on the caller's
// stream. Forward: lstm_prepare (bias rows, h_{-1}); ONE GEMM x @ w_ih^T onto every step's
// gate rows; per step one GEMM h_{t-1} @ w_hh^T onto that step's rows, then lstm_cell.
// Backward: lstm_state_init; per step (T-1 .. 0) lstm_cell_backward, then one GEMM
// dh_{t-1} = dg_t @ w_hh; then dx, dw_ih, dw_hh as ONE GEMM each over all steps,
// lstm_bias_grad (deterministic column sums), lstm_state_out (dc0).
#include "gpu/lstm.h"

#include "gpu/blas.h"

namespace tc::gpu {
namespace {

// A matrix operand as strides: element (r, c) at base[r * s0 + c * s1] (one of them 1).
struct Mat {
  const void* p;
  int64_t s0, s1;
};

const void* at(const Tensor& t, int64_t elements) {
  return static_cast<const char*>(t.data) + elements * dtype_size(t.dtype);
}

// C[M,N] (+)= A[M,K] . B[K,N]: cuBLASLt when a provider takes it, else matmul.cu's kernel
// (which reads any strides: A(m,k) at a[m*sa0 + k*sa1], B(k,n) at b[k*sb0 + n*sb1]).
void gemm(Gpu& g, DType dt, int64_t M, int64_t N, int64_t K, Mat A, Mat B, void* C, int64_t ldc, bool accumulate) {
  GemmDesc d;
  d.dtype = dt;
  d.m = M, d.n = N, d.k = K;
  d.trans_a = A.s1 != 1, d.a = A.p, d.lda = A.s1 != 1 ? A.s1 : A.s0;
  d.trans_b = B.s1 != 1, d.b = B.p, d.ldb = B.s1 != 1 ? B.s1 : B.s0;
  d.c = C, d.ldc = ldc;
  d.beta = accumulate ? 1.0 : 0.0;
  d.allow_tf32 = g.allow_tf32;
  if (try_gemm(d, g.device, g.stream)) return;
  const bool tf32 = dt == DType::f32 && g.allow_tf32;
  const int64_t tile = dt == DType::f64 || (dt == DType::f32 && !tf32) ? 64 : 128;  // as matmul.cu
  Launch l("matmul.cu", std::string("matmul_") + suffix(dt));
  l.p(A.p).p(B.p).p(C).p(static_cast<const void*>(nullptr)).i(M).i(N).i(K).i(A.s0).i(A.s1).i(0).i(0).i(B.s0).i(B.s1).i(0).i(0).i(1)
      .i(ldc).i(0).i(0).i(accumulate ? 1 : 0).i(tf32 ? 1 : 0);
  l.grid1((M + tile - 1) / tile, (N + tile - 1) / tile, 1).block1(256);
  g.launch(l);
}

struct Dims {
  int64_t T, B, I, H, st, sb;  // row (t, b) at t * st + b * sb
};

Dims dims_of(const cpu::LstmArgs& a) {
  const Tensor& x = *a.x;
  const int64_t H = a.w_hh->size(1);
  if (a.batch_first) return {x.size(1), x.size(0), x.size(2), H, 1, x.size(1)};
  return {x.size(0), x.size(1), x.size(2), H, x.size(1), 1};
}

std::string name(const char* kernel, DType dt) { return std::string(kernel) + "_" + suffix(dt); }

}  // namespace

void lstm(Gpu& g, const cpu::LstmArgs& a, const Tensor* y, const Tensor& h_n, const Tensor& c_n, const Tensor& ws) {
  const Dims d = dims_of(a);
  const DType dt = a.x->dtype;
  const int64_t G = 4 * d.H, W = 6 * d.H, rows = d.T * d.B;
  Launch prep("lstm.cu", name("lstm_prepare", dt));
  prep.p(ws).p(a.bias).p(a.h0).i(d.T).i(d.B).i(d.H).i(d.sb).grid1(blocks(rows * G + d.B * d.H));
  g.launch(prep);
  gemm(g, dt, rows, G, d.I, {a.x->data, d.I, 1}, {a.w_ih->data, 1, d.I}, ws.data, W, true);
  for (int64_t t = 0; t < d.T; ++t) {
    const int64_t r0 = t * d.st;  // row (t, 0)
    if (t > 0 || a.h0)
      gemm(g, dt, d.B, G, d.H, {at(ws, r0 * W + 5 * d.H), d.sb * W, 1}, {a.w_hh->data, 1, d.H},
           const_cast<void*>(at(ws, r0 * W)), d.sb * W, true);
    Launch cell("lstm.cu", name("lstm_cell", dt));
    cell.p(ws).p(a.c0).p(y).p(h_n).p(c_n).i(t).i(d.T).i(d.B).i(d.H).i(d.st).i(d.sb).grid1(blocks(d.B * d.H));
    g.launch(cell);
  }
}

void lstm_backward(Gpu& g, const cpu::LstmArgs& a, const Tensor& ws, const Tensor* dy, const Tensor* dh_n,
                   const Tensor* dc_n, const cpu::LstmGrads& out) {
  const Dims d = dims_of(a);
  const DType dt = a.x->dtype;
  const int64_t G = 4 * d.H, W = 6 * d.H, rows = d.T * d.B, BH = d.B * d.H;
  Tensor dg = g.scratch(Shape{rows, G}, dt);
  Tensor dh = g.scratch(Shape{d.B, d.H}, dt);
  Tensor dc = g.scratch(Shape{d.B, d.H}, dt == DType::f64 ? DType::f64 : DType::f32);  // the carried dc: float
  Launch init("lstm.cu", name("lstm_state_init", dt));
  init.p(dc_n).p(dc).i(BH).grid1(blocks(BH));
  g.launch(init);
  for (int64_t t = d.T - 1; t >= 0; --t) {
    Launch cell("lstm.cu", name("lstm_cell_backward", dt));
    const void* dh_in = t == d.T - 1 ? (dh_n ? dh_n->data : nullptr) : dh.data;
    cell.p(ws).p(a.c0).p(dy).p(dh_in).p(dc).p(dg).i(t).i(d.B).i(d.H).i(d.st).i(d.sb).grid1(blocks(BH));
    g.launch(cell);
    void* dst = t > 0 ? dh.data : (out.dh0 ? out.dh0->data : nullptr);
    if (dst)  // dh_{t-1} = dg_t @ w_hh
      gemm(g, dt, d.B, d.H, G, {at(dg, t * d.st * G), d.sb * G, 1}, {a.w_hh->data, d.H, 1}, dst, d.H, false);
  }
  if (out.dc0) {
    Launch o("lstm.cu", name("lstm_state_out", dt));
    o.p(dc).p(out.dc0).i(BH).grid1(blocks(BH));
    g.launch(o);
  }
  const Mat dgT{dg.data, 1, G};  // dg^T: (m = gate column, k = row)
  if (out.dx) gemm(g, dt, rows, d.I, G, {dg.data, G, 1}, {a.w_ih->data, d.I, 1}, out.dx->data, d.I, false);
  if (out.dw_ih) gemm(g, dt, G, d.I, rows, dgT, {a.x->data, d.I, 1}, out.dw_ih->data, d.I, false);
  if (out.dw_hh) gemm(g, dt, G, d.H, rows, dgT, {at(ws, 5 * d.H), W, 1}, out.dw_hh->data, d.H, false);
  if (out.dbias) {
    Launch b("lstm.cu", name("lstm_bias_grad", dt));
    b.p(dg).p(out.dbias).i(rows).i(G).grid1(blocks(G));
    g.launch(b);
  }
}

}  // namespace tc::gpu
