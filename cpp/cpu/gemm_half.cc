#include "cpu/gemm_half.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "core/cpu_features.h"
#include "core/half.h"
#include "core/parallel.h"
#include "cpu/matmul.h"

namespace tc::cpu {
namespace {

constexpr int MR = 8;    // rows of C per micro-kernel
constexpr int NR = 32;   // columns of C per micro-kernel (two zmm of float32)
constexpr int MC = 96;   // rows per task: their packed A stays in L2 while the B panels stream by
constexpr int NC = 128;  // columns per task
constexpr int KCP = 128; // k pairs per slice

std::atomic<bool> g_enabled{true};

bool cpu_has_bf16() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && cpu_best_isa() == Isa::avx512;
  }();
  return yes;
}

#define TC_TARGET_BF16PACK __attribute__((target("avx512f,avx512vl,avx512bw")))

// Copies the (k, k+1) pair at src (k even: the low half) to dst, as one 32-bit word.
inline void copy_pair(uint16_t* dst, const uint16_t* src) { std::memcpy(dst, src, 4); }

// Packed A: for each block of MR rows, Kp pairs x MR rows x 2 bf16 (a row's pair (k, k+1) is
// one 32-bit word, broadcast to all lanes). Rows past M and k past K are zeros.
// Without ta a row's pairs are 32-bit words of A (copied word by word); with ta the pair is
// two rows of the stored A, interleaved 8 columns at a time.
TC_TARGET_BF16PACK void pack_a_block(bool ta, int64_t M, int64_t K, const uint16_t* A, int64_t lda, int64_t blk,
                                     uint16_t* out) {
  const int64_t Kp = (K + 1) / 2, Ke = K & ~int64_t(1);
  uint16_t* o = out + blk * Kp * MR * 2;
  const int64_t i0 = blk * MR;
  const int rows = int(std::min<int64_t>(MR, M - i0));
  if (!ta) {
    if (rows < MR) std::fill(o, o + Kp * MR * 2, uint16_t(0));
    if (rows == MR && MR * lda + K < (int64_t(1) << 30)) {  // two pairs of all 8 rows per gather
      const __m512i idx = _mm512_add_epi32(
          _mm512_mullo_epi32(_mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0),
                             _mm512_set1_epi32(int(lda))),
          _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0));
      const uint16_t* base = A + i0 * lda;
      int64_t k = 0;
      for (; k + 4 <= Ke; k += 4)
        _mm512_storeu_si512(o + (k >> 1) * MR * 2, _mm512_i32gather_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(int(k))), base, 2));
      for (; k < Ke; k += 2)
        for (int r = 0; r < MR; ++r) copy_pair(o + ((k >> 1) * MR + r) * 2, base + r * lda + k);
      if (K & 1)
        for (int r = 0; r < MR; ++r) o[((K >> 1) * MR + r) * 2] = base[r * lda + K - 1], o[((K >> 1) * MR + r) * 2 + 1] = 0;
      return;
    }
    for (int r = 0; r < rows; ++r) {
      const uint16_t* row = A + (i0 + r) * lda;
      for (int64_t k = 0; k < Ke; k += 2) copy_pair(o + ((k >> 1) * MR + r) * 2, row + k);
      if (K & 1) o[((K >> 1) * MR + r) * 2] = row[K - 1], o[((K >> 1) * MR + r) * 2 + 1] = 0;
    }
    return;
  }
  const __mmask8 m = __mmask8((1u << rows) - 1);
  for (int64_t k = 0; k < K; k += 2) {
    const __m128i a = _mm_maskz_loadu_epi16(m, A + k * lda + i0);
    const __m128i b = k + 1 < K ? _mm_maskz_loadu_epi16(m, A + (k + 1) * lda + i0) : _mm_setzero_si128();
    __m128i* d = reinterpret_cast<__m128i*>(o + (k >> 1) * MR * 2);
    _mm_storeu_si128(d, _mm_unpacklo_epi16(a, b));
    _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(a, b));
  }
}

// Packed B: for each panel of NR columns, Kp pairs x NR columns x 2 bf16 (lane j holds
// B(k, j), B(k+1, j): vdpbf16ps's pair layout). Columns past N and k past K are zeros.
// Without tb a pair is two rows of B interleaved (vpermt2w, 32 columns at once); with tb a
// column's pairs are 32-bit words of the stored B.
TC_TARGET_BF16PACK void pack_b_panel(bool tb, int64_t N, int64_t K, const uint16_t* B, int64_t ldb, int64_t p,
                                     uint16_t* out) {
  const int64_t Kp = (K + 1) / 2, Ke = K & ~int64_t(1);
  uint16_t* o = out + p * Kp * NR * 2;
  const int64_t j0 = p * NR, nj = std::min<int64_t>(NR, N - j0);
  if (!tb) {
    const __mmask32 m = nj >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << nj) - 1);
    alignas(64) static const uint16_t lo_idx[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                                    8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    alignas(64) static const uint16_t hi_idx[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                                    24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
    const __m512i lo = _mm512_load_si512(lo_idx), hi = _mm512_load_si512(hi_idx);
    for (int64_t k = 0; k < K; k += 2) {
      const __m512i a = _mm512_maskz_loadu_epi16(m, B + k * ldb + j0);
      const __m512i b = k + 1 < K ? _mm512_maskz_loadu_epi16(m, B + (k + 1) * ldb + j0) : _mm512_setzero_si512();
      uint16_t* d = o + (k >> 1) * NR * 2;
      _mm512_storeu_si512(d, _mm512_permutex2var_epi16(a, lo, b));
      _mm512_storeu_si512(d + 32, _mm512_permutex2var_epi16(a, hi, b));
    }
    return;
  }
  if (nj < NR) std::fill(o, o + Kp * NR * 2, uint16_t(0));
  if (nj == NR && NR * ldb + K < (int64_t(1) << 30)) {  // the pairs of 16 columns per gather
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(int(ldb)));
    const uint16_t *b0 = B + j0 * ldb, *b1 = B + (j0 + 16) * ldb;
    for (int64_t k = 0; k < Ke; k += 2) {
      const __m512i ik = _mm512_add_epi32(idx, _mm512_set1_epi32(int(k)));
      uint16_t* d = o + (k >> 1) * NR * 2;
      _mm512_storeu_si512(d, _mm512_i32gather_epi32(ik, b0, 2));
      _mm512_storeu_si512(d + 32, _mm512_i32gather_epi32(ik, b1, 2));
    }
    if (K & 1)
      for (int64_t jj = 0; jj < NR; ++jj)
        o[((K >> 1) * NR + jj) * 2] = B[(j0 + jj) * ldb + K - 1], o[((K >> 1) * NR + jj) * 2 + 1] = 0;
    return;
  }
  for (int64_t jj = 0; jj < nj; ++jj) {
    const uint16_t* col = B + (j0 + jj) * ldb;  // B(k, j) = Bt[j][k]: a pair is contiguous
    for (int64_t k = 0; k < Ke; k += 2) copy_pair(o + ((k >> 1) * NR + jj) * 2, col + k);
    if (K & 1) o[((K >> 1) * NR + jj) * 2] = col[K - 1], o[((K >> 1) * NR + jj) * 2 + 1] = 0;
  }
}

void pack_a(bool ta, int64_t M, int64_t K, const uint16_t* A, int64_t lda, uint16_t* out) {
  parallel_for((M + MR - 1) / MR, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) pack_a_block(ta, M, K, A, lda, blk, out);
  });
}

void pack_b(bool tb, int64_t N, int64_t K, const uint16_t* B, int64_t ldb, uint16_t* out) {
  parallel_for((N + NR - 1) / NR, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) pack_b_panel(tb, N, K, B, ldb, p, out);
  });
}

__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw"))) void kernel(int64_t Kp, const uint16_t* pa,
                                                                          const uint16_t* pb, float* C,
                                                                          int64_t ldc, int rows, int cols,
                                                                          bool accumulate) {
  __m512 c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t kp = 0; kp < Kp; ++kp) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(pb + kp * NR * 2);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(pb + kp * NR * 2 + 32);
    const uint16_t* ap = pa + kp * MR * 2;
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, ap + 2 * r, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
      c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xffff) : cols <= 16 ? __mmask16(0) : __mmask16((1u << (cols - 16)) - 1);
  for (int r = 0; r < rows; ++r) {
    float* cr = C + r * ldc;
    __m512 v0 = c0[r], v1 = c1[r];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

// A half tensor's data as bf16 bits.
const uint16_t* bits(const Tensor& t) { return static_cast<const uint16_t*>(t.data); }

std::vector<float> zeros(int64_t n) { return std::vector<float>(size_t(n), 0.0f); }

// The matmul's GEMMs as in matmul.cc: `batch` products of [M,K] x [K,N]; a 2-D b shared by a
// 3-D a without trans_a folds the batch into M.
using Dims = MatmulDims;

void to_half(const std::vector<float>& src, const Tensor& dst, int64_t offset) {
  half::from_f32(src.data(), static_cast<uint16_t*>(dst.data) + offset, dst.dtype, int64_t(src.size()));
}

bool native_for(const Tensor& t) { return t.dtype == DType::bf16 && half_gemm_native(); }

// Tasks [t0, t1) of C (+)= packed A x packed B: tasks are MC x NC blocks of C.
void run_tasks(int64_t t0, int64_t t1, int64_t M, int64_t N, int64_t Kp, const uint16_t* pa, const uint16_t* pb,
               float* C, int64_t ldc, bool accumulate) {
  const int64_t mblocks = (M + MR - 1) / MR, panels = (N + NR - 1) / NR, ntasks = (N + NC - 1) / NC;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t mt = t / ntasks, nt = t % ntasks;
    // k in slices of KCP pairs: a panel's slice (KCP x NR pairs, 16 KB) stays in L1 while the
    // task's row blocks (MC rows x KCP pairs, 48 KB, in L2) pass over it
    for (int64_t k0 = 0, kn; k0 < Kp; k0 += kn) {
      // a short last slice would cost another pass over C: up to KCP/4 extra pairs join this one
      kn = Kp - k0 <= KCP + KCP / 4 ? Kp - k0 : KCP;
      for (int64_t p = nt * (NC / NR); p < std::min(panels, (nt + 1) * (NC / NR)); ++p)
        for (int64_t blk = mt * (MC / MR); blk < std::min(mblocks, (mt + 1) * (MC / MR)); ++blk) {
          const int64_t i0 = blk * MR, j0 = p * NR;
          kernel(kn, pa + (blk * Kp + k0) * MR * 2, pb + (p * Kp + k0) * NR * 2, C + i0 * ldc + j0, ldc,
                 int(std::min<int64_t>(MR, M - i0)), int(std::min<int64_t>(NR, N - j0)), accumulate || k0 > 0);
        }
    }
  }
}

bool zero_k(int64_t M, int64_t N, int64_t K, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return true;
  if (K > 0) return false;
  if (!accumulate)
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
  return true;
}

}  // namespace

bool half_gemm_native() { return g_enabled.load() && cpu_has_bf16() && cpu_isa() == Isa::avx512; }
void set_half_gemm_native(bool enabled) { g_enabled.store(enabled); }

int64_t bf16_packed_a_size(int64_t M, int64_t K) { return (M + MR - 1) / MR * ((K + 1) / 2) * MR * 2; }
int64_t bf16_packed_b_size(int64_t N, int64_t K) { return (N + NR - 1) / NR * ((K + 1) / 2) * NR * 2; }

void bf16_pack_a(bool ta, int64_t M, int64_t K, const uint16_t* A, int64_t lda, uint16_t* out) {
  for (int64_t blk = 0; blk < (M + MR - 1) / MR; ++blk) pack_a_block(ta, M, K, A, lda, blk, out);
}

void bf16_pack_b(bool tb, int64_t N, int64_t K, const uint16_t* B, int64_t ldb, uint16_t* out) {
  for (int64_t p = 0; p < (N + NR - 1) / NR; ++p) pack_b_panel(tb, N, K, B, ldb, p, out);
}

void gemm_bf16_packed(int64_t M, int64_t N, int64_t K, const uint16_t* pa, const uint16_t* pb, float* C, int64_t ldc,
                      bool accumulate) {
  if (zero_k(M, N, K, C, ldc, accumulate)) return;
  run_tasks(0, (M + MC - 1) / MC * ((N + NC - 1) / NC), M, N, (K + 1) / 2, pa, pb, C, ldc, accumulate);
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (zero_k(M, N, K, C, ldc, accumulate)) return;
  // uninitialised: the packing writes every element (zeros where it pads)
  std::unique_ptr<uint16_t[]> pa(new uint16_t[size_t(bf16_packed_a_size(M, K))]);
  std::unique_ptr<uint16_t[]> pb(new uint16_t[size_t(bf16_packed_b_size(N, K))]);
  pack_a(ta, M, K, A, lda, pa.get());
  pack_b(tb, N, K, B, ldb, pb.get());
  const int64_t tasks = (M + MC - 1) / MC * ((N + NC - 1) / NC);
  parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    run_tasks(t0, t1, M, N, (K + 1) / 2, pa.get(), pb.get(), C, ldc, accumulate);
  });
}

void matmul_half(const Tensor& a, const Tensor& b, const Tensor* bias, bool ta, bool tb, const Tensor& c) {
  if (!native_for(a)) {  // float32 kernels on converted copies
    Tensor a2 = a, b2 = b, c2 = c, bias2 = bias ? *bias : Tensor{};
    half::Scope s({&a2, &b2, bias ? &bias2 : nullptr}, {&c2});
    matmul(a2, b2, bias ? &bias2 : nullptr, ta, tb, c2);
    s.finish();
    return;
  }
  const Dims d = matmul_dims(a, b, ta, tb);
  const int64_t M = d.M, N = d.N, K = d.K;
  std::vector<float> bias32;
  if (bias) {
    bias32.resize(size_t(N));
    half::to_f32(bias->data, bias->dtype, bias32.data(), N);
  }
  std::vector<float> ci(size_t(M * N));
  for (int64_t i = 0; i < d.batch; ++i) {
    if (bias)  // bias first, then the GEMM accumulates onto it
      for (int64_t r = 0; r < M; ++r) std::copy(bias32.begin(), bias32.end(), ci.begin() + r * N);
    gemm_bf16(ta, tb, M, N, K, bits(a) + i * M * K, ta ? M : K, bits(b) + (d.b_batched ? i * K * N : 0),
              tb ? K : N, ci.data(), N, bias != nullptr);
    to_half(ci, c, i * M * N);
  }
}

void matmul_backward_half(const Tensor& grad, const Tensor& a, const Tensor& b, bool ta, bool tb,
                          const Tensor* da, const Tensor* db, const Tensor* dbias) {
  if (!native_for(a)) {
    Tensor g2 = grad, a2 = a, b2 = b, da2 = da ? *da : Tensor{}, db2 = db ? *db : Tensor{},
           dbias2 = dbias ? *dbias : Tensor{};
    half::Scope s({&g2, &a2, &b2}, {da ? &da2 : nullptr, db ? &db2 : nullptr, dbias ? &dbias2 : nullptr});
    matmul_backward(g2, a2, b2, ta, tb, da ? &da2 : nullptr, db ? &db2 : nullptr, dbias ? &dbias2 : nullptr);
    s.finish();
    return;
  }
  const Dims d = matmul_dims(a, b, ta, tb);
  const int64_t M = d.M, N = d.N, K = d.K;
  const uint16_t *G = bits(grad), *A = bits(a), *B = bits(b);
  const int64_t arow = ta ? M : K, brow = tb ? K : N;
  if (da) {  // d op(a) = G op(b)^T; with trans_a, da = op(b) G^T (as matmul.cc)
    std::vector<float> out(size_t(M * K));
    for (int64_t i = 0; i < d.batch; ++i) {
      const uint16_t *gi = G + i * M * N, *bi = B + (d.b_batched ? i * K * N : 0);
      if (!ta) gemm_bf16(false, !tb, M, K, N, gi, N, bi, brow, out.data(), K, false);
      else gemm_bf16(tb, true, K, M, N, bi, brow, gi, N, out.data(), M, false);
      to_half(out, *da, i * M * K);
    }
  }
  if (db) {  // d op(b) = op(a)^T G; with trans_b, db = G^T op(a); a shared b sums over the batch
    std::vector<float> out = zeros(K * N);
    for (int64_t i = 0; i < d.batch; ++i) {
      const uint16_t *gi = G + i * M * N, *ai = A + i * M * K;
      const bool acc = !d.b_batched && i > 0;
      if (!tb) gemm_bf16(!ta, false, K, N, M, ai, arow, gi, N, out.data(), N, acc);
      else gemm_bf16(true, ta, N, K, M, gi, N, ai, arow, out.data(), K, acc);
      if (d.b_batched) to_half(out, *db, i * K * N);
    }
    if (!d.b_batched) to_half(out, *db, 0);
  }
  if (dbias) {  // column sums of grad, in float32
    const int64_t rows = grad.numel() / N;
    std::vector<float> out = zeros(N), row = zeros(N);
    for (int64_t r = 0; r < rows; ++r) {
      half::to_f32(G + r * N, grad.dtype, row.data(), N);
      for (int64_t j = 0; j < N; ++j) out[size_t(j)] += row[size_t(j)];
    }
    to_half(out, *dbias, 0);
  }
}

}  // namespace tc::cpu
