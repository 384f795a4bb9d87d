#include "gpu/matmul.h"

#include <string>

#include "gpu/blas.h"

namespace tc::gpu {

int64_t gemm_tile(DType dtype, bool tf32) {
  return dtype == DType::f64 || (dtype == DType::f32 && !tf32) ? 64 : 128;
}

void gemm_grid(Launch& l, const char* op, const char* arg, int64_t M, int64_t N, int64_t Z, DType dtype,
               bool tf32) {
  const int64_t t = gemm_tile(dtype, tf32), gy = (N + t - 1) / t;
  if (gy > 65535 || Z > 65535)  // grid y / z limits (rows go on x, up to 2^31 - 1)
    value_error(op, arg, "too large for the GPU GEMM grid: ", gy, " column tiles (N = ", N, ") and ", Z,
                " batches; at most 65535 each");
  l.grid1((M + t - 1) / t, gy, Z);
}

namespace {

struct Dims {
  int64_t B, M, N, K;
  bool b3;  // b has its own batch
};

Dims dims_of(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Dims d;
  d.B = a.ndim() == 3 ? a.size(0) : 1;
  d.M = ta ? a.size(-1) : a.size(-2);
  d.K = ta ? a.size(-2) : a.size(-1);
  d.N = tb ? b.size(-2) : b.size(-1);
  d.b3 = b.ndim() == 3;
  return d;
}

// (s0, s1): strides of the logical (row, col) element of a row-major matrix stored as
// [rows, cols], or as [cols, rows] when trans.
std::pair<int64_t, int64_t> strides(int64_t rows, int64_t cols, bool trans) {
  return trans ? std::pair<int64_t, int64_t>{1, rows} : std::pair<int64_t, int64_t>{cols, 1};
}

bool tf32_for(const Gpu& g, DType d) { return d == DType::f32 && g.allow_tf32; }

// One launch of our GEMM kernel (the parameter list of matmul.cu).
struct Gemm {
  const void *a, *b;
  void* c;
  const void* bias = nullptr;
  int64_t M, N, K, sa0, sa1, saz, sar, sb0, sb1, sbz, sbr, R, ldc, scz;
};

void run_ours(Gpu& g, const char* op, const char* arg, DType dt, const Gemm& m, int64_t Z) {
  const bool tf32 = tf32_for(g, dt);
  Launch l("matmul.cu", std::string("matmul_") + suffix(dt));
  gemm_grid(l, op, arg, m.M, m.N, Z, dt, tf32);
  l.p(m.a).p(m.b).p(m.c).p(m.bias).i(m.M).i(m.N).i(m.K).i(m.sa0).i(m.sa1).i(m.saz).i(m.sar).i(m.sb0)
      .i(m.sb1).i(m.sbz).i(m.sbr).i(m.R).i(m.ldc).i(m.scz).i(0).i(0).i(tf32);
  g.launch(l);
}

GemmDesc desc(const Gpu& g, DType dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
              const void* b, int64_t ldb, void* c, int64_t ldc, int64_t batch, int64_t sa, int64_t sb, int64_t sc) {
  GemmDesc d;
  d.dtype = dt;
  d.trans_a = ta, d.trans_b = tb, d.m = m, d.n = n, d.k = k;
  d.a = a, d.lda = lda, d.b = b, d.ldb = ldb, d.c = c, d.ldc = ldc;
  d.batch = batch, d.stride_a = sa, d.stride_b = sb, d.stride_c = sc;
  d.allow_tf32 = tf32_for(g, dt);
  return d;
}

}  // namespace

void matmul(Gpu& g, const char* op, const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb,
            const Tensor& c) {
  const Dims d = dims_of(a, b, ta, tb);
  // The vendor GEMM first: C = op(A) op(B) (+ bias in its epilogue).
  GemmDesc v = desc(g, a.dtype, ta, tb, d.M, d.N, d.K, a.data, ta ? d.M : d.K, b.data, tb ? d.K : d.N, c.data,
                    d.N, d.B, d.M * d.K, d.b3 ? d.K * d.N : 0, d.M * d.N);
  if (bias) v.epilogue = Epilogue::bias, v.bias = bias->data;
  if (try_gemm(v, g.device, g.stream)) return;
  auto [sa0, sa1] = strides(d.M, d.K, ta);
  auto [sb0, sb1] = strides(d.K, d.N, tb);
  Gemm m{a.data, b.data, c.data, bias ? bias->data : nullptr, d.M, d.N, d.K, sa0, sa1, d.M * d.K, 0,
         sb0, sb1, d.b3 ? d.K * d.N : 0, 0, 1, d.N, d.M * d.N};
  run_ours(g, op, "a", a.dtype, m, d.B);
}

void matmul_backward(Gpu& g, const char* op, const Tensor& grad, const Tensor& a, const Tensor& b, bool ta,
                     bool tb, const Tensor* da, const Tensor* db, const Tensor* dbias) {
  const Dims d = dims_of(a, b, ta, tb);
  const DType dt = grad.dtype;
  auto [sb0, sb1] = strides(d.K, d.N, tb);  // op(B) (k, n)
  auto [sa0, sa1] = strides(d.M, d.K, ta);  // op(A) (m, k)
  const int64_t sbz = d.b3 ? d.K * d.N : 0, ldb = tb ? d.K : d.N, lda = ta ? d.M : d.K;
  if (da) {
    if (!ta) {  // dA [M,K] = G [M,N] . op(B)^T
      GemmDesc v = desc(g, dt, false, !tb, d.M, d.K, d.N, grad.data, d.N, b.data, ldb, da->data, d.K, d.B,
                        d.M * d.N, sbz, d.M * d.K);
      if (!try_gemm(v, g.device, g.stream))
        run_ours(g, op, "grad", dt, Gemm{grad.data, b.data, da->data, nullptr, d.M, d.K, d.N, d.N, 1, d.M * d.N,
                                         0, sb1, sb0, sbz, 0, 1, d.K, d.M * d.K}, d.B);
    } else {  // stored transposed: dA^T [K,M] = op(B) [K,N] . G^T
      GemmDesc v = desc(g, dt, tb, true, d.K, d.M, d.N, b.data, ldb, grad.data, d.N, da->data, d.M, d.B, sbz,
                        d.M * d.N, d.M * d.K);
      if (!try_gemm(v, g.device, g.stream))
        run_ours(g, op, "grad", dt, Gemm{b.data, grad.data, da->data, nullptr, d.K, d.M, d.N, sb0, sb1, sbz, 0,
                                         1, d.N, d.M * d.N, 0, 1, d.M, d.M * d.K}, d.B);
    }
  }
  if (db) {
    // One b for every batch: db sums over it (r runs over the batch inside the kernel).
    const bool shared = !d.b3 && a.ndim() == 3;
    const int64_t Z = shared ? 1 : d.B, R = shared ? d.B : 1, zs = shared ? 0 : 1;
    const int64_t saz = d.M * d.K, gz = d.M * d.N;
    bool done = false;
    if (!tb && !(shared && ta)) {  // dB [K,N] = op(A)^T [K,M] . G [M,N]; shared: A as [B*M, K]
      const int64_t rows = shared ? d.B * d.M : d.M;
      GemmDesc v = desc(g, dt, !ta, false, d.K, d.N, rows, a.data, lda, grad.data, d.N, db->data, d.N, Z,
                        saz, gz, d.K * d.N);
      done = try_gemm(v, g.device, g.stream);
    } else if (tb && !(shared && ta)) {  // dB^T [N,K] = G^T [N,M] . op(A) [M,K]
      const int64_t rows = shared ? d.B * d.M : d.M;
      GemmDesc v = desc(g, dt, true, ta, d.N, d.K, rows, grad.data, d.N, a.data, lda, db->data, d.K, Z, gz,
                        saz, d.K * d.N);
      done = try_gemm(v, g.device, g.stream);
    }
    if (!done) {
      if (!tb)
        run_ours(g, op, "grad", dt, Gemm{a.data, grad.data, db->data, nullptr, d.K, d.N, d.M, sa1, sa0,
                                         saz * zs, saz * (1 - zs), d.N, 1, gz * zs, gz * (1 - zs), R, d.N,
                                         d.K * d.N}, Z);
      else
        run_ours(g, op, "grad", dt, Gemm{grad.data, a.data, db->data, nullptr, d.N, d.K, d.M, 1, d.N, gz * zs,
                                         gz * (1 - zs), sa0, sa1, saz * zs, saz * (1 - zs), R, d.K, d.K * d.N},
                 Z);
    }
  }
  if (dbias)
    g.launch(Launch("matmul.cu", std::string("matmul_bias_grad_") + suffix(dt))
                 .grid1(blocks(d.N)).p(grad).i(d.B * d.M).i(d.N).p(dbias));
}

}  // namespace tc::gpu
