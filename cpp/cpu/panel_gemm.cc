// Packed-once panels and an in-place-A micro-kernel (see panel_gemm.h). Loop order: for each
// panel of op(B) (kept in L1/L2 while it is used), for each MR rows of A: one MR x NR tile in
// registers, K broadcast-FMA steps. Tiles: AVX-512 f32 8x32 / f64 8x16, AVX2 f32 6x16 / f64 6x8,
// portable 4x8 / 4x4; fewer rows than MR run the same kernel instantiated for that many.
#include "cpu/panel_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <new>

namespace tc::cpu {
namespace {

template <typename T>
using Kernel = void (*)(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc);

// c[0:R, 0:NR] (+)= sum_k a[i*lda + k] * b[k*NR + j]; the sum starts from c (acc) or 0 and
// runs over k in order.
template <typename T, int R, int NR>
void ukr_generic(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc) {
  T s[R][NR];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) s[i][j] = acc ? c[i * ldc + j] : T(0);
  for (int64_t k = 0; k < K; ++k, b += NR)
    for (int i = 0; i < R; ++i) {
      const T ai = a[i * lda + k];
      for (int j = 0; j < NR; ++j) s[i][j] += ai * b[j];
    }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = s[i][j];
}

#define TC_PANEL_UKR(NAME, TARGET, T, V, W, ZERO, LOADU, STOREU, SET1, FMA)                  \
  template <typename, int R, int NV>                                                         \
  TARGET void NAME(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc) { \
    V s[R][NV];                                                                              \
    _Pragma("GCC unroll 16") for (int i = 0; i < R; ++i)                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)                                 \
            s[i][v] = acc ? LOADU(c + i * ldc + v * W) : ZERO();                             \
    for (int64_t k = 0; k < K; ++k, b += NV * W) {                                           \
      V bv[NV];                                                                              \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) bv[v] = LOADU(b + v * W);         \
      _Pragma("GCC unroll 16") for (int i = 0; i < R; ++i) {                                 \
        const V ai = SET1(a[i * lda + k]);                                                   \
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

// The kernels of one path: by[r] handles r rows (1..mr).
template <typename T>
struct Path {
  int mr, nr;
  Kernel<T> by[9];
};

#define TC_ROWS8(F, NV) {nullptr, &F<void, 1, NV>, &F<void, 2, NV>, &F<void, 3, NV>, &F<void, 4, NV>, \
                         &F<void, 5, NV>, &F<void, 6, NV>, &F<void, 7, NV>, &F<void, 8, NV>}
#define TC_ROWS6(F, NV) {nullptr, &F<void, 1, NV>, &F<void, 2, NV>, &F<void, 3, NV>, &F<void, 4, NV>, \
                         &F<void, 5, NV>, &F<void, 6, NV>, nullptr, nullptr}

template <typename T, int R, int NR>
void generic_rows(int64_t K, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool acc) {
  ukr_generic<T, R, NR>(K, a, lda, b, c, ldc, acc);
}

const Path<float>& path_f32(Isa isa) {
  static const Path<float> avx512{8, 32, TC_ROWS8(ukr_avx512_f32, 2)};
  static const Path<float> avx2{6, 16, TC_ROWS6(ukr_avx2_f32, 2)};
  static const Path<float> generic{4, 8, {nullptr, &generic_rows<float, 1, 8>, &generic_rows<float, 2, 8>,
                                          &generic_rows<float, 3, 8>, &generic_rows<float, 4, 8>}};
  return isa == Isa::avx512 ? avx512 : isa == Isa::avx2 ? avx2 : generic;
}

const Path<double>& path_f64(Isa isa) {
  static const Path<double> avx512{8, 16, TC_ROWS8(ukr_avx512_f64, 2)};
  static const Path<double> avx2{6, 8, TC_ROWS6(ukr_avx2_f64, 2)};
  static const Path<double> generic{4, 4, {nullptr, &generic_rows<double, 1, 4>, &generic_rows<double, 2, 4>,
                                           &generic_rows<double, 3, 4>, &generic_rows<double, 4, 4>}};
  return isa == Isa::avx512 ? avx512 : isa == Isa::avx2 ? avx2 : generic;
}
#undef TC_ROWS8
#undef TC_ROWS6

inline const Path<float>& path(Isa isa, float*) { return path_f32(isa); }
inline const Path<double>& path(Isa isa, double*) { return path_f64(isa); }

template <typename T>
PackedPanels<T> pack_t(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb) {
  PackedPanels<T> p;
  p.isa = cpu_isa();
  p.K = K, p.N = N, p.nr = path(p.isa, static_cast<T*>(nullptr)).nr;
  const int64_t nr = p.nr, panels = (N + nr - 1) / nr;
  const size_t bytes = (size_t(panels * nr * std::max<int64_t>(K, 1)) * sizeof(T) + 63) / 64 * 64;
  p.data.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  T* d = p.data.get();
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t j0 = q * nr, cols = std::min(nr, N - j0);
    T* dq = d + q * K * nr;
    if (tb) {  // op(B) column j is row j of B: read each row once, scatter into the panel
      for (int64_t j = 0; j < nr; ++j) {
        if (j < cols) {
          const T* s = B + (j0 + j) * ldb;
          for (int64_t k = 0; k < K; ++k) dq[k * nr + j] = s[k];
        } else {
          for (int64_t k = 0; k < K; ++k) dq[k * nr + j] = T(0);
        }
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const T* s = B + k * ldb + j0;
        for (int64_t j = 0; j < nr; ++j) dq[k * nr + j] = j < cols ? s[j] : T(0);
      }
    }
  }
  return p;
}

template <typename T>
void gemm_t(int64_t M, const T* A, int64_t lda, const PackedPanels<T>& P, bool acc, T* C, int64_t ldc) {
  if (M <= 0 || P.N <= 0) return;
  const Path<T>& pt = path(P.isa, static_cast<T*>(nullptr));
  const int64_t K = P.K, N = P.N, nr = P.nr, mr = pt.mr, panels = (N + nr - 1) / nr;
  alignas(64) T tile[8 * 32];
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t j0 = q * nr, cols = std::min(nr, N - j0);
    const T* b = P.data.get() + q * K * nr;
    for (int64_t i0 = 0; i0 < M; i0 += mr) {
      const int64_t rows = std::min(mr, M - i0);
      const Kernel<T> kern = pt.by[rows];
      T* c = C + i0 * ldc + j0;
      if (cols == nr) {
        kern(K, A + i0 * lda, lda, b, c, ldc, acc);
        continue;
      }
      // Last panel, narrower than nr: through a full-width tile (its padding columns are zero in b).
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < nr; ++j) tile[i * nr + j] = acc && j < cols ? c[i * ldc + j] : T(0);
      kern(K, A + i0 * lda, lda, b, tile, nr, true);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = tile[i * nr + j];
    }
  }
}

}  // namespace

PackedPanels<float> pack_panels(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb) {
  return pack_t(tb, K, N, B, ldb);
}
PackedPanels<double> pack_panels(bool tb, int64_t K, int64_t N, const double* B, int64_t ldb) {
  return pack_t(tb, K, N, B, ldb);
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
