// Packed-once panels and an in-place-A micro-kernel (see panel_gemm.h). Loop order: for each
// panel of op(B) (kept in L1/L2 while it is used), for each MR rows of A: one MR x NR tile in
// registers, K broadcast-FMA steps. Tiles: AVX-512 f32 8x32 / f64 8x16, AVX2 f32 6x16 / f64 6x8,
// portable 4x8 / 4x4; fewer rows than MR run the same kernel instantiated for that many.
#include "cpu/panel_gemm.h"
#include "cpu/scratch.h"

#include <immintrin.h>

#include <algorithm>
#include <new>

#include "core/parallel.h"

namespace tc::cpu {
namespace {

template <typename T>
using Kernel = void (*)(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc,
                        const T* init);

// Element (i, k) of the A tile: row i of A in place (a[i*lda + k]) or, TA, column i of an A
// stored [K, M] (a[k*lda + i]).
template <bool TA>
inline int64_t at(int64_t i, int64_t k, int64_t lda) { return TA ? k * lda + i : i * lda + k; }

// c[0:R, 0:NR] (+)= sum_k A(i, k) * b[k*NR + j]; the sum starts from init[0:NR] (every row; a
// bias) when given, else from c (acc) or 0, and runs over k in order.
template <bool TA, int R, int NR, typename T>
void ukr_generic(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc, const T* init) {
  T s[R][NR];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) s[i][j] = init ? init[j] : acc ? c[i * ldc + j] : T(0);
  for (int64_t k = 0; k < K; ++k, b += NR)
    for (int i = 0; i < R; ++i) {
      const T ai = a[at<TA>(i, k, lda)];
      for (int j = 0; j < NR; ++j) s[i][j] += ai * b[j];
    }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = s[i][j];
}

#define TC_PANEL_UKR(NAME, TARGET, T, V, W, ZERO, LOADU, STOREU, SET1, FMA)                  \
  template <bool TA, int R, int NV>                                                          \
  TARGET void NAME(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc,     \
                   const T* init) {                                                          \
    V s[R][NV];                                                                              \
    _Pragma("GCC unroll 16") for (int i = 0; i < R; ++i)                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                 \
            s[i][v] = init ? LOADU(init + v * W) : acc ? LOADU(c + i * ldc + v * W) : ZERO(); \
    for (int64_t k = 0; k < K; ++k, b += NV * W) {                                           \
      V bv[NV];                                                                              \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = LOADU(b + v * W);         \
      _Pragma("GCC unroll 16") for (int i = 0; i < R; ++i) {                                 \
        const V ai = SET1(a[at<TA>(i, k, lda)]);                                             \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) s[i][v] = FMA(ai, bv[v], s[i][v]); \
      }                                                                                      \
    }                                                                                        \
    _Pragma("GCC unroll 16") for (int i = 0; i < R; ++i)                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) STOREU(c + i * ldc + v * W, s[i][v]); \
  }

TC_PANEL_UKR(ukr_avx512_f32, TC_TARGET_AVX512, float, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps,
             _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps)
TC_PANEL_UKR(ukr_avx512_f64, TC_TARGET_AVX512, double, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd,
             _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd)
TC_PANEL_UKR(ukr_avx2_f32, TC_TARGET_AVX2, float, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps,
             _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps)
TC_PANEL_UKR(ukr_avx2_f64, TC_TARGET_AVX2, double, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd,
             _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd)
#undef TC_PANEL_UKR

// The kernels of one path: by[ta][r] handles r rows (1..mr) of A in place (ta = 0) or of A^T.
template <typename T>
struct Path {
  int mr, nr;
  Kernel<T> by[2][9];
};

#define TC_ROWS8(F, TA, NV) {nullptr, &F<TA, 1, NV>, &F<TA, 2, NV>, &F<TA, 3, NV>, &F<TA, 4, NV>, \
                             &F<TA, 5, NV>, &F<TA, 6, NV>, &F<TA, 7, NV>, &F<TA, 8, NV>}
#define TC_ROWS6(F, TA, NV) {nullptr, &F<TA, 1, NV>, &F<TA, 2, NV>, &F<TA, 3, NV>, &F<TA, 4, NV>, \
                             &F<TA, 5, NV>, &F<TA, 6, NV>, nullptr, nullptr}
#define TC_ROWS4(T, TA, NR) {nullptr, &ukr_generic<TA, 1, NR, T>, &ukr_generic<TA, 2, NR, T>, \
                             &ukr_generic<TA, 3, NR, T>, &ukr_generic<TA, 4, NR, T>}

const Path<float>& path_f32(Isa isa) {
  static const Path<float> avx512{8, 32, {TC_ROWS8(ukr_avx512_f32, false, 2), TC_ROWS8(ukr_avx512_f32, true, 2)}};
  static const Path<float> avx2{6, 16, {TC_ROWS6(ukr_avx2_f32, false, 2), TC_ROWS6(ukr_avx2_f32, true, 2)}};
  static const Path<float> generic{4, 8, {TC_ROWS4(float, false, 8), TC_ROWS4(float, true, 8)}};
  return isa == Isa::avx512 ? avx512 : isa == Isa::avx2 ? avx2 : generic;
}

const Path<double>& path_f64(Isa isa) {
  static const Path<double> avx512{8, 16, {TC_ROWS8(ukr_avx512_f64, false, 2), TC_ROWS8(ukr_avx512_f64, true, 2)}};
  static const Path<double> avx2{6, 8, {TC_ROWS6(ukr_avx2_f64, false, 2), TC_ROWS6(ukr_avx2_f64, true, 2)}};
  static const Path<double> generic{4, 4, {TC_ROWS4(double, false, 4), TC_ROWS4(double, true, 4)}};
  return isa == Isa::avx512 ? avx512 : isa == Isa::avx2 ? avx2 : generic;
}
#undef TC_ROWS8
#undef TC_ROWS6
#undef TC_ROWS4

inline const Path<float>& path(Isa isa, float*) { return path_f32(isa); }
inline const Path<double>& path(Isa isa, double*) { return path_f64(isa); }

// d[0:n] = s[0:n]; a fixed n for the panel widths, so a short row is a few vector moves, not a
// memmove call.
template <typename T>
inline void copy_short(const T* __restrict s, int64_t n, T* __restrict d) {
  switch (n) {
    case 32: for (int j = 0; j < 32; ++j) d[j] = s[j]; return;
    case 16: for (int j = 0; j < 16; ++j) d[j] = s[j]; return;
    case 8: for (int j = 0; j < 8; ++j) d[j] = s[j]; return;
    case 6: for (int j = 0; j < 6; ++j) d[j] = s[j]; return;
    case 4: for (int j = 0; j < 4; ++j) d[j] = s[j]; return;
    default: for (int64_t j = 0; j < n; ++j) d[j] = s[j];
  }
}

// Rows [p0, p0 + kc) of op(B) [K, N] into panels of nr columns, each [kc, nr], zero past N.
template <typename T>
void pack_into(bool tb, int64_t p0, int64_t kc, int64_t N, const T* B, int64_t ldb, int64_t nr, T* d) {
  const int64_t panels = (N + nr - 1) / nr;
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t j0 = q * nr, cols = std::min(nr, N - j0);
    T* dq = d + q * kc * nr;
    if (tb) {  // op(B) column j is row j of B: read each row once, scatter into the panel
      for (int64_t j = 0; j < nr; ++j) {
        if (j < cols) {
          const T* s = B + (j0 + j) * ldb + p0;
          for (int64_t k = 0; k < kc; ++k) dq[k * nr + j] = s[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dq[k * nr + j] = T(0);
        }
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const T* s = B + (p0 + k) * ldb + j0;
        T* dk = dq + k * nr;
        copy_short(s, cols, dk);
        for (int64_t j = cols; j < nr; ++j) dk[j] = T(0);
      }
    }
  }
}

template <typename T>
PackedPanels<T> pack_t(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, const T* bias) {
  PackedPanels<T> p;
  p.isa = cpu_isa();
  p.K = K, p.N = N, p.nr = path(p.isa, static_cast<T*>(nullptr)).nr;
  const int64_t panels = (N + p.nr - 1) / p.nr;
  const size_t bytes = (size_t(panels * p.nr * std::max<int64_t>(K, 1)) * sizeof(T) + 63) / 64 * 64;
  p.data.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  pack_into(tb, 0, K, N, B, ldb, p.nr, p.data.get());
  if (bias) {  // padded to whole panels with zeros
    p.bias.reset(static_cast<T*>(std::aligned_alloc(64, (size_t(panels * p.nr) * sizeof(T) + 63) / 64 * 64)));
    if (!p.bias) throw std::bad_alloc();
    for (int64_t j = 0; j < panels * p.nr; ++j) p.bias.get()[j] = j < N ? bias[j] : T(0);
  }
  return p;
}

// C[M, N] (+)= A(M x K) @ panels [K, N]: for each panel (kept in cache), each MR rows of A.
template <bool TA, typename T>
void run_panels(const Path<T>& pt, int64_t M, const T* A, int64_t lda, const T* bp, int64_t K, int64_t N, bool acc,
                const T* init, T* C, int64_t ldc) {
  const int64_t nr = pt.nr, mr = pt.mr, panels = (N + nr - 1) / nr;
  alignas(64) T tile[8 * 32];
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t j0 = q * nr, cols = std::min(nr, N - j0);
    const T* b = bp + q * K * nr;
    for (int64_t i0 = 0; i0 < M; i0 += mr) {
      const int64_t rows = std::min(mr, M - i0);
      const Kernel<T> kern = pt.by[TA][rows];
      const T* a = A + (TA ? i0 : i0 * lda);
      const T* in = init ? init + j0 : nullptr;
      T* c = C + i0 * ldc + j0;
      if (cols == nr) {
        kern(K, a, lda, b, c, ldc, acc, in);
        continue;
      }
      // Last panel, narrower than nr: through a full-width tile (its padding columns are zero in b).
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < nr; ++j) tile[i * nr + j] = acc && j < cols ? c[i * ldc + j] : T(0);
      kern(K, a, lda, b, tile, nr, true, in);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = tile[i * nr + j];
    }
  }
}

template <typename T>
void gemm_t(int64_t M, const T* A, int64_t lda, const PackedPanels<T>& P, bool acc, T* C, int64_t ldc) {
  if (M <= 0 || P.N <= 0) return;
  run_panels<false>(path(P.isa, static_cast<T*>(nullptr)), M, A, lda, P.data.get(), P.K, P.N, acc, P.bias.get(), C,
                    ldc);
}

thread_local Scratch tls_panels, tls_cols;

// K slices of gemm_tn: a [kc, nr] panel of B stays in L1 while the thread's row tiles use it.
constexpr int64_t kTnSlice = 128;

template <typename T>
void gemm_tn_t(int64_t M, int64_t K, const T* A, int64_t lda, const TnPart<T>* parts, int n_parts) {
  if (M <= 0) return;
  if (K <= 0) {
    for (int p = 0; p < n_parts; ++p)
      for (int64_t i = 0; i < M; ++i) std::fill(parts[p].C + i * parts[p].ldc, parts[p].C + i * parts[p].ldc + parts[p].N, T(0));
    return;
  }
  const Path<T>& pt = path(cpu_isa(), static_cast<T*>(nullptr));
  const int64_t mr = pt.mr, nr = pt.nr, tiles = (M + mr - 1) / mr;
  int64_t first[3] = {0, 0, 0}, N = 0;  // part p's panels start at first[p]
  for (int p = 0; p < n_parts; ++p) {
    first[p + 1] = first[p] + (parts[p].N + nr - 1) / nr;
    N += parts[p].N;
  }
  const int64_t panels = first[n_parts];
  if (panels == 0) return;
  const int64_t threads = 2.0 * double(M) * double(N) * double(K) < 1e6 ? 1 : num_threads();
  // One block of row tiles per thread; each packs its own slices of B (B is the small operand)
  // and, per slice, its tiles' columns of A as [kc, mr] runs: read in place, consecutive k are
  // lda apart (2 KB for an LSTM's dG), few L1 sets, and every k would miss.
  parallel_for(tiles, (tiles + threads - 1) / threads, [&](int64_t t0, int64_t t1) {
    const int64_t slice = std::min(kTnSlice, K);
    T* bp = tls_panels.get<T>(size_t(panels * nr * slice));
    T* ap = tls_cols.get<T>(size_t((t1 - t0) * mr * slice));
    alignas(64) T tile[8 * 32];
    for (int64_t pc = 0; pc < K; pc += kTnSlice) {
      const int64_t kc = std::min(kTnSlice, K - pc);
      const bool acc = pc > 0;
      for (int p = 0; p < n_parts; ++p)
        pack_into(false, pc, kc, parts[p].N, parts[p].B, parts[p].ldb, nr, bp + first[p] * kc * nr);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t rows = std::min(mr, M - t * mr);
        T* at = ap + (t - t0) * kc * mr;
        for (int64_t k = 0; k < kc; ++k) copy_short(A + (pc + k) * lda + t * mr, rows, at + k * mr);
      }
      for (int p = 0; p < n_parts; ++p) {
        const TnPart<T>& o = parts[p];
        for (int64_t q = first[p]; q < first[p + 1]; ++q) {
          const int64_t j0 = (q - first[p]) * nr, cols = std::min(nr, o.N - j0);
          const T* b = bp + q * kc * nr;
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t rows = std::min(mr, M - t * mr);
            const Kernel<T> kern = pt.by[1][rows];
            const T* a = ap + (t - t0) * kc * mr;
            T* c = o.C + t * mr * o.ldc + j0;
            if (cols == nr) {
              kern(kc, a, mr, b, c, o.ldc, acc, nullptr);
              continue;
            }
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < nr; ++j) tile[i * nr + j] = acc && j < cols ? c[i * o.ldc + j] : T(0);
            kern(kc, a, mr, b, tile, nr, true, nullptr);
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < cols; ++j) c[i * o.ldc + j] = tile[i * nr + j];
          }
        }
      }
    }
  });
}

}  // namespace

PackedPanels<float> pack_panels(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, const float* bias) {
  return pack_t(tb, K, N, B, ldb, bias);
}
PackedPanels<double> pack_panels(bool tb, int64_t K, int64_t N, const double* B, int64_t ldb, const double* bias) {
  return pack_t(tb, K, N, B, ldb, bias);
}
void gemm_panels(int64_t M, const float* A, int64_t lda, const PackedPanels<float>& B, bool acc, float* C,
                 int64_t ldc) {
  gemm_t(M, A, lda, B, acc, C, ldc);
}
void gemm_panels(int64_t M, const double* A, int64_t lda, const PackedPanels<double>& B, bool acc, double* C,
                 int64_t ldc) {
  gemm_t(M, A, lda, B, acc, C, ldc);
}

}  // namespace tc::cpu

namespace tc::cpu {
void gemm_tn(int64_t M, int64_t K, const float* A, int64_t lda, TnPart<float> p0, TnPart<float> p1) {
  const TnPart<float> parts[2] = {p0, p1};
  gemm_tn_t(M, K, A, lda, parts, p1.C ? 2 : 1);
}
void gemm_tn(int64_t M, int64_t K, const double* A, int64_t lda, TnPart<double> p0, TnPart<double> p1) {
  const TnPart<double> parts[2] = {p0, p1};
  gemm_tn_t(M, K, A, lda, parts, p1.C ? 2 : 1);
}
}  // namespace tc::cpu
