// Packed GEMM in the GotoBLAS/BLIS style.
//
//   for pc in K by KC:                 (equal K slices; beta applies on the first only)
//     for jc in N by NC:
//       pack B[pc:pc+kc, jc:jc+nc] into KxNR micro-panels
//       for each MC block of rows:   pack A into MRxK micro-panels
//         for each MR panel of A:    (stays in L1)
//           for each NR panel of B:  (streams from L2)
//             micro-kernel: MR x NR tile in registers, K-loop of broadcast-FMA
//
// Threads: with many rows, B is packed by all threads, then the MC blocks are
// shared out; with few rows (M <= MC, e.g. a batch of activations) the NR panels
// are shared out instead and each thread packs its own B panels and the small A.
// Transposes are absorbed by the packing routines; edge tiles are zero-padded in
// the packed panels, computed in full into a scratch tile and copied back.
// Micro-kernels: AVX-512 (f32 8x32, f64 8x16), AVX2+FMA (f32 6x16, f64 6x8), a
// portable C++ one, and one-vector-wide tall tiles for narrow N; chosen at run
// time from tc::cpu_isa().
// Few rows times a transposed B (F.linear's x @ W^T, float32, AVX2/AVX-512) skip the B
// packing: gemm_wt reads W's rows in place and sums every element in the packed path's
// order, so both weight layouts (torch's W[out,in], Keras's kernel[in,out]) give the same bits.
#include "cpu/gemm.h"
#include "cpu/scratch.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <new>
#include <type_traits>

#include "core/cpu_features.h"
#include "core/parallel.h"

namespace tc::cpu {
namespace {

constexpr size_t kAlign = 64;


// One per thread: A panels are packed by whichever thread runs the task; B panels by the caller.
thread_local Scratch tls_a, tls_b;

template <typename T>
using Ukr = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta);

// A micro-kernel and the cache blocking that suits it.
template <typename T>
struct Config {
  int mr, nr;
  int64_t kc, mc, nc;
  Ukr<T> ukr;
};

// ---------------------------------------------------------------------------
// Micro-kernels: c[0:MR, 0:NR] = alpha * sum_k a[k*MR+i] * b[k*NR+j] + beta * c
// (beta == 0: c is written without being read). a and b are packed panels; b is
// 64-byte aligned.

// Portable: a small accumulator array the compiler keeps in (SSE) registers.
template <typename T, int MR, int NR>
void ukr_generic(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      c[i * ldc + j] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

// SIMD kernels share one body; TARGET/V/W/... name the ISA's vector type and
// intrinsics. NV vectors of W lanes per row: NR = NV * W.
#define TC_DEFINE_UKR(NAME, TARGET, T, V, W, ZERO, LOAD, LOADU, STOREU, SET1, FMA, MUL)      \
  template <int MR, int NV>                                                                 \
  TARGET void NAME(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) { \
    V acc[MR][NV];                                                                          \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i)                                   \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = ZERO();            \
    for (int64_t k = 0; k < kc; ++k, a += MR, b += NV * W) {                                \
      V bv[NV];                                                                             \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = LOAD(b + v * W);         \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i) {                               \
        V ai = SET1(a[i]);                                                                  \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = FMA(ai, bv[v], acc[i][v]); \
      }                                                                                     \
    }                                                                                       \
    V va = SET1(alpha), vb = SET1(beta);                                                    \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; ++i) {                                 \
      T* ci = c + i * ldc;                                                                  \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {                                \
        V r = MUL(va, acc[i][v]);                                                           \
        if (beta != T(0)) r = FMA(vb, LOADU(ci + v * W), r);                                \
        STOREU(ci + v * W, r);                                                              \
      }                                                                                     \
    }                                                                                       \
  }

TC_DEFINE_UKR(ukr_avx512_f32, TC_TARGET_AVX512, float, __m512, 16, _mm512_setzero_ps, _mm512_load_ps,
              _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps)
TC_DEFINE_UKR(ukr_avx512_f64, TC_TARGET_AVX512, double, __m512d, 8, _mm512_setzero_pd, _mm512_load_pd,
              _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_mul_pd)
TC_DEFINE_UKR(ukr_avx2_f32, TC_TARGET_AVX2, float, __m256, 8, _mm256_setzero_ps, _mm256_load_ps,
              _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps)
TC_DEFINE_UKR(ukr_avx2_f64, TC_TARGET_AVX2, double, __m256d, 4, _mm256_setzero_pd, _mm256_load_pd,
              _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_mul_pd)
#undef TC_DEFINE_UKR

// KC: one A micro-panel (MR x KC) fits L1 with room for the streamed B panel;
// NC: the packed B block (KC x NC) fits a core's L2; MC bounds the A block.
// Narrow products (N at most one vector, e.g. a 10-class output layer) use a
// taller, one-vector-wide tile instead of padding N up to the wide tile.
const Config<float>& config_f32(int64_t N) {
  static const Config<float> avx512{8, 32, 384, 128, 512, &ukr_avx512_f32<8, 2>};
  static const Config<float> avx512_narrow{16, 16, 384, 128, 512, &ukr_avx512_f32<16, 1>};
  static const Config<float> avx2{6, 16, 256, 96, 512, &ukr_avx2_f32<6, 2>};
  static const Config<float> avx2_narrow{12, 8, 256, 96, 512, &ukr_avx2_f32<12, 1>};
  static const Config<float> generic{4, 8, 256, 64, 512, &ukr_generic<float, 4, 8>};
  switch (cpu_isa()) {
    case Isa::avx512: return N <= 16 ? avx512_narrow : avx512;
    case Isa::avx2: return N <= 8 ? avx2_narrow : avx2;
    default: return generic;
  }
}

const Config<double>& config_f64(int64_t N) {
  static const Config<double> avx512{8, 16, 256, 96, 512, &ukr_avx512_f64<8, 2>};
  static const Config<double> avx512_narrow{16, 8, 256, 96, 512, &ukr_avx512_f64<16, 1>};
  static const Config<double> avx2{6, 8, 256, 96, 512, &ukr_avx2_f64<6, 2>};
  static const Config<double> avx2_narrow{12, 4, 256, 96, 512, &ukr_avx2_f64<12, 1>};
  static const Config<double> generic{4, 4, 256, 64, 512, &ukr_generic<double, 4, 4>};
  switch (cpu_isa()) {
    case Isa::avx512: return N <= 8 ? avx512_narrow : avx512;
    case Isa::avx2: return N <= 4 ? avx2_narrow : avx2;
    default: return generic;
  }
}

// ---------------------------------------------------------------------------
// Packing. op(A)(i, k) = ta ? A[k*lda + i] : A[i*lda + k]; rows past m are zeros.
// When the source runs along k (A not transposed, B transposed) packing is a
// transpose; float32 does it in 8x8 AVX2 blocks (the F.linear layout depends on it).

// dst[k*ds + r] = row[r][k] for r < 8, k < 8: one 8x8 block; the 8 rows are stored in
// the order k = 0..7 (transpose_pack_narrow relies on it).
TC_TARGET_AVX2 inline void transpose8x8_rows(const float* const* row, float* dst, int64_t ds) {
  __m256 r0 = _mm256_loadu_ps(row[0]), r1 = _mm256_loadu_ps(row[1]), r2 = _mm256_loadu_ps(row[2]),
         r3 = _mm256_loadu_ps(row[3]), r4 = _mm256_loadu_ps(row[4]), r5 = _mm256_loadu_ps(row[5]),
         r6 = _mm256_loadu_ps(row[6]), r7 = _mm256_loadu_ps(row[7]);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// dst[k*ds + r] = src[r*ld + k] for r < 8, k < 8.
TC_TARGET_AVX2 inline void transpose8x8(const float* src, int64_t ld, float* dst, int64_t ds) {
  const float* row[8] = {src, src + ld, src + 2 * ld, src + 3 * ld, src + 4 * ld, src + 5 * ld, src + 6 * ld,
                         src + 7 * ld};
  transpose8x8_rows(row, dst, ds);
}

// rows < 8 (the AVX2 kernel's MR = 6) into a panel exactly `rows` wide: 8x8 transposes in
// which rows past `rows` repeat the last row (read in bounds; their lanes are garbage). The
// 8 stores of a block, each `rows` apart, spill their garbage lanes into the next k's slot,
// which the next store rewrites; the block that ends the panel goes through a local copy,
// so nothing is written past dst[kc*rows).
TC_TARGET_AVX2 void transpose_pack_narrow(const float* src, int64_t ld, int64_t rows, int64_t kc, float* dst) {
  const float* row[8];
  for (int64_t r = 0; r < 8; ++r) row[r] = src + std::min(r, rows - 1) * ld;
  int64_t k = 0;
  for (; k + 8 < kc; k += 8) {  // not the last block: its spill lands inside the panel
    const float* rk[8];
    for (int r = 0; r < 8; ++r) rk[r] = row[r] + k;
    transpose8x8_rows(rk, dst + k * rows, rows);
  }
  if (k + 8 == kc) {
    alignas(32) float tail[8 * 8 + 8];
    const float* rk[8];
    for (int r = 0; r < 8; ++r) rk[r] = row[r] + k;
    transpose8x8_rows(rk, tail, rows);
    for (int64_t i = 0; i < 8 * rows; ++i) dst[k * rows + i] = tail[i];
    k += 8;
  }
  for (; k < kc; ++k)
    for (int64_t r = 0; r < rows; ++r) dst[k * rows + r] = src[r * ld + k];
}

TC_TARGET_AVX2 void transpose_pack_avx2(const float* src, int64_t ld, int64_t rows, int64_t kc, float* dst,
                                        int64_t ds) {
  if (rows < 8 && rows == ds) return transpose_pack_narrow(src, ld, rows, kc, dst);
  const int64_t rows8 = rows / 8 * 8;
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8)
    for (int64_t r = 0; r < rows8; r += 8) transpose8x8(src + r * ld + k, ld, dst + k * ds + r, ds);
  for (; k < kc; ++k)
    for (int64_t r = 0; r < rows8; ++r) dst[k * ds + r] = src[r * ld + k];
  for (int64_t r = rows8; r < rows; ++r)  // leftover rows (fewer than 8)
    for (k = 0; k < kc; ++k) dst[k * ds + r] = src[r * ld + k];
}

// dst[k*ds + r] = src[r*ld + k] for r < rows, k < kc.
template <typename T>
void transpose_pack(const T* src, int64_t ld, int64_t rows, int64_t kc, T* dst, int64_t ds) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_isa() != Isa::generic) return transpose_pack_avx2(src, ld, rows, kc, dst, ds);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < kc; ++k) dst[k * ds + r] = src[r * ld + k];
}

template <typename T>
void pack_a(bool ta, const T* A, int64_t lda, int64_t i0, int64_t m, int64_t p0, int64_t kc, int mr,
            T* dst) {
  for (int64_t ip = 0; ip < m; ip += mr, dst += kc * mr) {
    int64_t rows = std::min<int64_t>(mr, m - ip);
    if (ta) {  // rows of op(A) are contiguous columns of A: copy runs of `rows`
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = A + (p0 + k) * lda + i0 + ip;
        T* d = dst + k * mr;
        for (int64_t i = 0; i < rows; ++i) d[i] = s[i];
        for (int64_t i = rows; i < mr; ++i) d[i] = T(0);
      }
    } else {
      transpose_pack(A + (i0 + ip) * lda + p0, lda, rows, kc, dst, mr);
      for (int64_t i = rows; i < mr; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * mr + i] = T(0);
    }
  }
}

// op(B)(k, j) = tb ? B[j*ldb + k] : B[k*ldb + j]; packs NR panels [q0, q1) of the
// block starting at column j0; columns past n are zeros.
template <typename T>
void pack_b(bool tb, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t n, int nr,
            int64_t q0, int64_t q1, T* dst) {
  if (!tb) {
    // Blocks of 8 rows across all the panels: B's rows are read front to back and each panel
    // gets 8 consecutive pieces. Panel by panel, each 64-byte piece came from a row one ldb
    // further on (4 KB apart for a 1024-wide B: every read a cache and TLB miss), which cost
    // 5% of a 1024^3 GEMM; row by row, the writes went to panels kc*nr apart (the same L1 set).
    for (int64_t k0 = 0; k0 < kc; k0 += 8) {
      const int64_t k1 = std::min<int64_t>(kc, k0 + 8);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t jp = q * nr, cols = std::min<int64_t>(nr, n - jp);
        for (int64_t k = k0; k < k1; ++k) {
          const T* s = B + (p0 + k) * ldb + j0 + jp;
          T* d = dst + q * kc * nr + k * nr;
          // constant sizes (the wide tiles' 64 and 128 bytes): inlined as vector moves
          if (cols == nr && nr * sizeof(T) == 64) {
            std::memcpy(d, s, 64);
          } else if (cols == nr && nr * sizeof(T) == 128) {
            std::memcpy(d, s, 128);
          } else {
            for (int64_t j = 0; j < cols; ++j) d[j] = s[j];
            for (int64_t j = cols; j < nr; ++j) d[j] = T(0);
          }
        }
      }
    }
    return;
  }
  for (int64_t q = q0; q < q1; ++q) {
    T* d0 = dst + q * kc * nr;
    int64_t jp = q * nr, cols = std::min<int64_t>(nr, n - jp);
    {
      transpose_pack(B + (j0 + jp) * ldb + p0, ldb, cols, kc, d0, nr);
      for (int64_t j = cols; j < nr; ++j)
        for (int64_t k = 0; k < kc; ++k) d0[k * nr + j] = T(0);
    }
  }
}

// ---------------------------------------------------------------------------
// Few rows of op(A) times a B stored as W[N,K] (trans_b: F.linear's weight, each row along k).
// The packed path transposes all of W into KxNR panels for a product that uses each element
// only M times (18% of 32x784 -> 512, most of it reading W from L3). Here the roles swap:
// C^T = W op(A)^T. The kernel broadcasts W[j,k] straight from W's rows and multiplies it by
// a vector op(A)(i0:i0+PW, k) taken from op(A) packed as [k][PW] panels (pack_a; 100 KB at
// 32x784), so W is read once, in place, and never packed.
// Bit-identity with the packed path (the torch layout x @ W^T comes here, the Keras layout
// x @ W does not): each C element is the same chain. The same K slices (even_block of the
// packed config's KC); per slice acc = 0, then acc = fma(w, x, acc) for k in order (fma's
// product commutes, so fma(w, x, acc) == fma(x, w, acc) bit for bit); then alpha * acc, and on
// every slice after the first (or the first, when beta != 0) fma(beta, previous, alpha * acc),
// as the packed micro-kernel writes C. The running sum lives in a small tile, not in C.

// out[j*NV*W + v*W + l] = alpha * sum_k w[j*ldw + k] * x[k*NV*W + v*W + l] (+ beta * out)
#define TC_DEFINE_WTKR(NAME, TARGET, T, V, W, ZERO, LOAD, STORE, SET1, FMA, MUL)                 \
  template <int NJ, int NV>                                                                   \
  TARGET void NAME(int64_t kc, const T* w, int64_t ldw, const T* x, T* out, T alpha, T beta) { \
    V acc[NJ][NV];                                                                            \
    _Pragma("GCC unroll 16") for (int j = 0; j < NJ; ++j)                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[j][v] = ZERO();              \
    for (int64_t k = 0; k < kc; ++k, x += NV * W) {                                           \
      V xv[NV];                                                                               \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) xv[v] = LOAD(x + v * W);           \
      _Pragma("GCC unroll 16") for (int j = 0; j < NJ; ++j) {                                 \
        V wj = SET1(w[j * ldw + k]);                                                          \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[j][v] = FMA(wj, xv[v], acc[j][v]); \
      }                                                                                       \
    }                                                                                         \
    V va = SET1(alpha), vb = SET1(beta);                                                      \
    _Pragma("GCC unroll 16") for (int j = 0; j < NJ; ++j)                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {                                \
      T* o = out + (j * NV + v) * W;                                                          \
      V r = MUL(va, acc[j][v]);                                                               \
      if (beta != T(0)) r = FMA(vb, LOAD(o), r);                                              \
      STORE(o, r);                                                                            \
    }                                                                                         \
  }

TC_DEFINE_WTKR(wtkr_avx512_f32, TC_TARGET_AVX512, float, __m512, 16, _mm512_setzero_ps, _mm512_load_ps,
               _mm512_store_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps)
TC_DEFINE_WTKR(wtkr_avx2_f32, TC_TARGET_AVX2, float, __m256, 8, _mm256_setzero_ps, _mm256_load_ps,
               _mm256_store_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps)
#undef TC_DEFINE_WTKR

template <typename T>
using WtKr = void (*)(int64_t kc, const T* w, int64_t ldw, const T* x, T* out, T alpha, T beta);

// NJ rows of W by panels of op(A) rows: as many of the widest as fit, then narrower ones, the
// last padded to the narrowest (8 rows: at most 7 padded rows, as the packed path's 8-row tiles).
// AVX-512: 12 x 32 (24 accumulators), 12 x 16, and 12 x 8 in ymm registers (the AVX2 body: an
// fma is the same rounding at every width); AVX2: 6 x 16 (the 6x16 kernel, transposed), 6 x 8.
template <typename T>
struct WtConfig {
  int nj, nw;        // rows of W per block; number of panel widths
  int width[3];      // panel widths, widest first; each a multiple of the next
  WtKr<T> kr[3];
};
constexpr int kWtMaxNj = 12, kWtMaxPw = 32;
// Rows up to which gemm_wt beats packing W (1 thread, benchmarks/dense_ratio.py and RESULTS.md):
// at 100x784 -> 512 packing W is a small share and the packed path is as fast or faster; with
// a narrow W (N <= 16, an output layer) the packed path pads N to 16 and gemm_wt wins to 128.
constexpr int64_t kWtMaxRows = 64, kWtMaxRowsNarrow = 128;

// A W of fewer than 12 rows (a 10-class output layer) takes the AVX2 blocks on AVX-512 too: two
// overlapping 6-row blocks read W in place where one 12-row block needs a padded copy, and the
// ymm kernels were faster there (_gemm 32x512 -> 10 on AMD EPYC: 6.6 us vs 8.0 us with 6x32 zmm
// blocks, 100x512 -> 10: 21.6 vs 27.8 us).
const WtConfig<float>* wt_config(float, int64_t N) {
  static const WtConfig<float> avx512{
      12, 3, {32, 16, 8}, {&wtkr_avx512_f32<12, 2>, &wtkr_avx512_f32<12, 1>, &wtkr_avx2_f32<12, 1>}};
  static const WtConfig<float> avx2{6, 2, {16, 8, 0}, {&wtkr_avx2_f32<6, 2>, &wtkr_avx2_f32<6, 1>, nullptr}};
  switch (cpu_isa()) {
    case Isa::avx512: return N < 12 ? &avx2 : &avx512;
    case Isa::avx2: return &avx2;
    default: return nullptr;  // the portable kernel's order (no FMA) stays the packed one's
  }
}
const WtConfig<double>* wt_config(double, int64_t) { return nullptr; }

// Runs fn over [0, n) on the pool when there is enough work to pay for waking it.
template <typename F>
void maybe_parallel(bool par, int64_t n, F&& fn) {
  if (par)
    parallel_for(n, 1, fn);
  else
    fn(0, n);
}

template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

// Splits n into the fewest blocks of at most `block`, of equal size rounded up to `unit`.
inline int64_t even_block(int64_t n, int64_t block, int64_t unit) {
  int64_t blocks = (n + block - 1) / block;
  return ((n + blocks - 1) / blocks + unit - 1) / unit * unit;
}

// One MC x (panels [qa, qb)) piece of C: A block packed in ap, B panels in bp.
template <typename T>
void macro_kernel(const Config<T>& cf, int64_t m, int64_t nc, int64_t kc, int64_t qa, int64_t qb, const T* ap,
                  const T* bp, T alpha, T beta, T* C, int64_t ldc) {
  const int mr = cf.mr, nr = cf.nr;
  alignas(kAlign) T tile[16 * 32];
  for (int64_t ip = 0; ip < m; ip += mr) {
    const int64_t rows = std::min<int64_t>(mr, m - ip);
    const T* a = ap + ip * kc;
    for (int64_t q = qa; q < qb; ++q) {
      const int64_t jp = q * nr, cols = std::min<int64_t>(nr, nc - jp);
      T* c = C + ip * ldc + jp;
      const T* b = bp + q * kc * nr;
      if (rows == mr && cols == nr) {
        cf.ukr(kc, a, b, c, ldc, alpha, beta);
      } else {  // edge tile: compute in full, copy back the valid part
        cf.ukr(kc, a, b, tile, nr, T(1), T(0));
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) {
            T v = alpha * tile[i * nr + j];
            c[i * ldc + j] = beta == T(0) ? v : v + beta * c[i * ldc + j];
          }
      }
    }
  }
}

// C[M,N] = alpha * op(A) W^T + beta * C, W[N,K] with rows ldw apart (see the kernels above).
// kcb: the packed path's K slice, so that every element sums in its order.
template <typename T>
void gemm_wt(const WtConfig<T>& wc, int64_t kcb, bool ta, int64_t M, int64_t N, int64_t K, T alpha,
             const T* A, int64_t lda, const T* W, int64_t ldw, T beta, T* C, int64_t ldc) {
  const int nj = wc.nj;
  // Panels of op(A): widest first, so every panel starts on its own width's alignment. A width
  // is taken while it pads no more than rounding the rows up to 8 does (12 rows: one 16-row
  // panel, not two of 8).
  struct Panel {
    int64_t i0;
    int w;
    WtKr<T> kr;
  };
  Panel pan[kWtMaxRowsNarrow / 8 + 1];
  int64_t npan = 0, r = 0;
  for (int q = 0; q < wc.nw; ++q)
    for (; M - r > wc.width[q] - 8; r += wc.width[q]) pan[npan++] = {r, wc.width[q], wc.kr[q]};
  // op(A) packed once by the caller, read by every task: panel p at xp + i0*K, [k][w].
  const int64_t rows_p = pan[npan - 1].i0 + pan[npan - 1].w;
  T* xp = tls_b.get<T>(size_t(rows_p) * K);
  for (int64_t p = 0; p < npan; ++p)
    pack_a(ta, A, lda, pan[p].i0, std::min<int64_t>(pan[p].w, M - pan[p].i0), 0, K, pan[p].w, xp + pan[p].i0 * K);
  const int64_t nb = (N + nj - 1) / nj;
  const int threads = 2.0 * double(M) * double(N) * double(K) < 1e6 ? 1 : num_threads();
  const int64_t tasks = std::min<int64_t>(nb, threads);
  maybe_parallel(tasks > 1, tasks, [&](int64_t t0, int64_t t1) {
    alignas(kAlign) T tile[kWtMaxNj * kWtMaxPw];
    for (int64_t jb = t0 * nb / tasks; jb < t1 * nb / tasks; ++jb) {
      // The last block, when short, moves back to end at row N (its first rows are the previous
      // block's, computed again and not stored); a W of fewer than nj rows is copied, padded
      // with zero rows: nothing is read past W.
      int64_t j0 = jb * nj, skip = 0;
      if (j0 + nj > N && N >= nj) skip = j0 - (N - nj), j0 = N - nj;
      const int64_t cols = std::min<int64_t>(nj, N - j0);
      const T* w = W + j0 * ldw;
      int64_t lw = ldw;
      if (cols < nj) {
        T* e = tls_a.get<T>(size_t(nj) * K);
        for (int64_t j = 0; j < nj; ++j)
          for (int64_t k = 0; k < K; ++k) e[j * K + k] = j < cols ? w[j * ldw + k] : T(0);
        w = e, lw = K;
      }
      for (int64_t p = 0; p < npan; ++p) {
        const int64_t i0 = pan[p].i0, rows = std::min<int64_t>(pan[p].w, M - i0);
        const int width = pan[p].w;
        const WtKr<T> kr = pan[p].kr;
        if (beta != T(0))
          for (int64_t j = 0; j < nj; ++j)
            for (int64_t i = 0; i < width; ++i)
              tile[j * width + i] = j >= skip && j < cols && i < rows ? C[(i0 + i) * ldc + j0 + j] : T(0);
        const T* x = xp + i0 * K;
        for (int64_t pc = 0; pc < K; pc += kcb)
          kr(std::min(kcb, K - pc), w + pc, lw, x + pc * width, tile, alpha, pc == 0 ? beta : T(1));
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = skip; j < cols; ++j) C[(i0 + i) * ldc + j0 + j] = tile[j * width + i];
      }
    }
  });
}

template <typename T>
void gemm_t(const Config<T>& cf, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
            const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_c(M, N, beta, C, ldc);
  const int mr = cf.mr, nr = cf.nr;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int threads = flops < 1e6 ? 1 : num_threads();
  const bool par = threads > 1;
  // Equal K slices and column blocks (no short last slice that costs a C pass for little work).
  const int64_t kcb = even_block(K, cf.kc, 1), ncb = even_block(N, cf.nc, nr);
  // Few rows times F.linear's weight (trans_b): W read in place (gemm_wt), same bits as below.
  // beta 0 or 1 only (every caller's): the packed path's edge tiles add beta * C unfused.
  if (tb && M <= (N <= 16 ? kWtMaxRowsNarrow : kWtMaxRows) && (beta == T(0) || beta == T(1)))
    if (const WtConfig<T>* wc = wt_config(T(0), N))
      return gemm_wt(*wc, kcb, ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  T* bp = tls_b.get<T>(size_t(ncb) * kcb);

  // Few rows (a small batch of activations) and enough columns for every thread: threads
  // split the columns; each packs its own B panels and the whole (small) A block, so there
  // is one region per slice. With more rows, or few columns (a layer of 64 units), every
  // thread would pack a large A for a sliver of C: the row split below packs A and B once.
  if (M <= cf.mc && (!par || ((N + nr - 1) / nr >= 4 * threads && M < 64))) {
    const int64_t mp = (M + mr - 1) / mr * mr;
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = std::min(kcb, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);
      for (int64_t jc = 0; jc < N; jc += ncb) {
        const int64_t nc = std::min(ncb, N - jc);
        const int64_t n_panels = (nc + nr - 1) / nr;
        const int64_t nchunks = std::min<int64_t>(n_panels, 2 * threads);
        const int64_t chunk = (n_panels + nchunks - 1) / nchunks;
        maybe_parallel(par, nchunks, [&](int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t qa = t * chunk, qb = std::min(n_panels, qa + chunk);
            if (qa >= qb) continue;
            pack_b(tb, B, ldb, pc, kc, jc, nc, nr, qa, qb, bp);
            T* ap = tls_a.get<T>(size_t(mp) * kc);
            pack_a(ta, A, lda, 0, M, pc, kc, mr, ap);
            macro_kernel(cf, M, nc, kc, qa, qb, ap, bp, alpha, beta_k, C + jc, ldc);
          }
        });
      }
    }
    return;
  }

  // Many rows: row blocks, a multiple of the thread count, of equal size (in MR units).
  const int64_t m_panels = (M + mr - 1) / mr;
  int64_t mblocks = (M + cf.mc - 1) / cf.mc;
  mblocks = std::min(m_panels, (mblocks + threads - 1) / threads * threads);
  const int64_t mc = (m_panels + mblocks - 1) / mblocks * mr;
  mblocks = (M + mc - 1) / mc;
  // With no more row blocks than threads (a batch of activations times a weight), B is
  // packed for several K slices in one region and each thread runs its row block through
  // all of them: two pool regions in all instead of two per slice (a long K, such as a
  // flattened feature map of 3136, would otherwise pay ~20 wake-ups). Each C element still
  // sums the slices in the same order, so the result is the same bit for bit.
  const int64_t spp = mblocks <= threads
      ? std::max<int64_t>(1, (int64_t(4) << 20) / int64_t(sizeof(T)) / (ncb * kcb)) : 1;
  bp = tls_b.get<T>(size_t(ncb) * kcb * spp);
  for (int64_t p0 = 0; p0 < K; p0 += kcb * spp) {
    const int64_t slices = (std::min(K, p0 + kcb * spp) - p0 + kcb - 1) / kcb;
    for (int64_t jc = 0; jc < N; jc += ncb) {
      const int64_t nc = std::min(ncb, N - jc);
      const int64_t n_panels = (nc + nr - 1) / nr;
      maybe_parallel(par, slices * n_panels, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1;) {  // the task's panels, one pack_b call per slice
          const int64_t sl = u / n_panels, q = u % n_panels, pc = p0 + sl * kcb;
          const int64_t q1 = std::min(n_panels, q + (u1 - u));
          pack_b(tb, B, ldb, pc, std::min(kcb, K - pc), jc, nc, nr, q, q1, bp + sl * ncb * kcb);
          u += q1 - q;
        }
      });
      maybe_parallel(par, mblocks, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t ic = t * mc, m = std::min(mc, M - ic);
          for (int64_t sl = 0; sl < slices; ++sl) {
            const int64_t pc = p0 + sl * kcb, kc = std::min(kcb, K - pc);
            T* ap = tls_a.get<T>(size_t((m + mr - 1) / mr * mr) * kc);
            pack_a(ta, A, lda, ic, m, pc, kc, mr, ap);
            macro_kernel(cf, m, nc, kc, 0, n_panels, ap, bp + sl * ncb * kcb, alpha, pc == 0 ? beta : T(1),
                         C + ic * ldc + jc, ldc);
          }
        }
      });
    }
  }
}

}  // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_t(config_f32(N), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_t(config_f64(N), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace tc::cpu
