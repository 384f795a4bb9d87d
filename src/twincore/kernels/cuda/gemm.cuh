// The GEMM every matmul and conv2d kernel shares:
//   C[z] (+)= sum over r < R of  opA(z, r) [M x K] . opB(z, r) [K x N]  (+ bias)
// z = blockIdx.z (a batch of independent products), r = batches summed into one output
// (matmul_backward's db of a shared b; conv2d's dW over images). Operands come through
// loaders: `la(z, r, m, k)` / `lb(z, r, k, n)` return the element as the accumulator type,
// so the same kernels run plain strided matrices (any transpose) and implicit im2col
// views (conv2d) without materializing them. `fast` says the loader's inner index (k for
// A, n for B) is the contiguous one, to pick a coalescing order for the tile loads.
// C is row-major with row stride ldc, batch stride sCz; bias (T, may be null) is added
// per column n (bias_rows = 0) or per row m (1); accumulate = 1 adds C's old value.
//
// Two kernels, 256 threads each:
// - gemm_simt<BM, BN, BK, TM, TN>: shared-memory tiles in the accumulator type, a
//   TM x TN register block per thread (f32, f64; the f16/bf16 fallback below sm_80).
// - gemm_wmma: 128 x 128 tiles, 8 warps of 64 x 32, tensor cores (WMMA) with float
//   accumulation: f16 and bf16 (m16n16k16), TF32 for f32 when allowed (m16n16k8).
#pragma once
#include <mma.h>

#include "common.cuh"

// One shared buffer for every GEMM instantiation in a kernel file (a kernel that can
// take several GEMM paths at run time would otherwise add up their static arrays).
// 29184 bytes: the TF32 WMMA tiles, the largest user.
#define TC_GEMM_SMEM 29184
__device__ __forceinline__ char* gemm_smem() {
  __shared__ __align__(32) char buf[TC_GEMM_SMEM];
  return buf;
}
__host__ __device__ constexpr int tc_round32(int b) { return (b + 31) / 32 * 32; }

template <typename T>
struct MatLoad {  // element (i, j) at p[z*sz + r*sr + i*s0 + j*s1]
  const T* p;
  i64 s0, s1, sz, sr;
  __device__ __forceinline__ typename Acc<T>::type operator()(i64 z, i64 r, i64 i, i64 j) const {
    return ld(p, z * sz + r * sr + i * s0 + j * s1);
  }
  __device__ __forceinline__ bool fast() const { return s1 == 1; }
};

template <typename T>
struct Epilogue {
  T* c;
  i64 ldc, sCz;
  const T* bias;
  i64 bias_rows, accumulate;
  __device__ __forceinline__ void put(i64 z, i64 m, i64 n, typename Acc<T>::type v) const {
    if (bias) v += ld(bias, bias_rows ? m : n);
    const i64 o = z * sCz + m * ldc + n;
    if (accumulate) v += ld(c, o);
    st(c, o, v);
  }
};

// Loads a BM x BK tile of A and a BK x BN tile of B (zeros outside the matrix) into shared
// arrays sa[m * lda_s + k] and sb[k * ldb_s + n] of type S (via st: converts).
template <int BM, int BN, int BK, typename S, class LA, class LB>
__device__ __forceinline__ void load_tiles(const LA& la, const LB& lb, S* sa, int lda_s, S* sb, int ldb_s,
                                           i64 z, i64 r, i64 m0, i64 n0, i64 k0, i64 M, i64 N, i64 K) {
  typedef decltype(la(0, 0, 0, 0)) A;
  const bool af = la.fast(), bf = lb.fast();
  for (int e = threadIdx.x; e < BM * BK; e += blockDim.x) {
    int mm = af ? e / BK : e % BM, kk = af ? e % BK : e / BM;
    i64 gm = m0 + mm, gk = k0 + kk;
    st(sa, i64(mm) * lda_s + kk, (gm < M && gk < K) ? la(z, r, gm, gk) : A(0));
  }
  for (int e = threadIdx.x; e < BK * BN; e += blockDim.x) {
    int nn = bf ? e % BN : e / BK, kk = bf ? e / BN : e % BK;
    i64 gn = n0 + nn, gk = k0 + kk;
    st(sb, i64(kk) * ldb_s + nn, (gn < N && gk < K) ? lb(z, r, gk, gn) : A(0));
  }
}

template <typename T, int BM, int BN, int BK, int TM, int TN, class LA, class LB>
__device__ __forceinline__ void gemm_simt(const LA& la, const LB& lb, const Epilogue<T>& ep, i64 M, i64 N,
                                          i64 K, i64 R) {
  typedef typename Acc<T>::type A;
  constexpr int TX = BN / TN, TY = BM / TM;  // TX * TY = 256 threads
  static_assert(tc_round32(BM * (BK + 1) * sizeof(A)) + BK * (BN + 1) * sizeof(A) <= TC_GEMM_SMEM, "smem");
  A* sa = reinterpret_cast<A*>(gemm_smem());
  A* sb = reinterpret_cast<A*>(gemm_smem() + tc_round32(BM * (BK + 1) * sizeof(A)));
  const i64 z = blockIdx.z, m0 = i64(blockIdx.x) * BM, n0 = i64(blockIdx.y) * BN;
  const int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
  A acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0;
  for (i64 r = 0; r < R; ++r)
    for (i64 k0 = 0; k0 < K; k0 += BK) {
      load_tiles<BM, BN, BK>(la, lb, sa, BK + 1, sb, BN + 1, z, r, m0, n0, k0, M, N, K);
      __syncthreads();
#pragma unroll
      for (int k = 0; k < BK; ++k) {
        A a[TM], b[TN];
        for (int i = 0; i < TM; ++i) a[i] = sa[(ty + i * TY) * (BK + 1) + k];
        for (int j = 0; j < TN; ++j) b[j] = sb[k * (BN + 1) + tx + j * TX];
        for (int i = 0; i < TM; ++i)
          for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
      __syncthreads();
    }
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) {
      i64 m = m0 + ty + i * TY, n = n0 + tx + j * TX;
      if (m < M && n < N) ep.put(z, m, n, acc[i][j]);
    }
}

// S: the shared/fragment element type (__half, __nv_bfloat16, or float for TF32);
// F: the WMMA element type (__half, __nv_bfloat16, wmma::precision::tf32); WK: k per mma.
template <typename T, typename S, typename F, int BK, int WK, class LA, class LB>
__device__ __forceinline__ void gemm_wmma(const LA& la, const LB& lb, const Epilogue<T>& ep, i64 M, i64 N,
                                          i64 K, i64 R) {
#if __CUDA_ARCH__ >= 800 || defined(TC_EMU)  // TC_EMU: the tests' CPU emulation
  using namespace nvcuda;
  constexpr int BM = 128, BN = 128, LDA = BK + 8, LDB = BN + 8;
  constexpr int OFF_B = tc_round32(BM * LDA * sizeof(S)), OFF_C = OFF_B + tc_round32(BK * LDB * sizeof(S));
  static_assert(OFF_C + 8 * 256 * sizeof(float) <= TC_GEMM_SMEM, "smem");
  S* sa = reinterpret_cast<S*>(gemm_smem());
  S* sb = reinterpret_cast<S*>(gemm_smem() + OFF_B);
  float* sc = reinterpret_cast<float*>(gemm_smem() + OFF_C);
  const i64 z = blockIdx.z, m0 = i64(blockIdx.x) * BM, n0 = i64(blockIdx.y) * BN;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wm = warp >> 2, wn = warp & 3;
  wmma::fragment<wmma::accumulator, 16, 16, WK, float> acc[4][2];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (i64 r = 0; r < R; ++r)
    for (i64 k0 = 0; k0 < K; k0 += BK) {
      load_tiles<BM, BN, BK>(la, lb, sa, LDA, sb, LDB, z, r, m0, n0, k0, M, N, K);
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BK; kk += WK) {
        wmma::fragment<wmma::matrix_a, 16, 16, WK, F, wmma::row_major> a[4];
        wmma::fragment<wmma::matrix_b, 16, 16, WK, F, wmma::row_major> b[2];
        for (int i = 0; i < 4; ++i) {
          wmma::load_matrix_sync(a[i], sa + (wm * 64 + i * 16) * LDA + kk, LDA);
          if constexpr (sizeof(S) == 4)
            for (int t = 0; t < a[i].num_elements; ++t) a[i].x[t] = wmma::__float_to_tf32(a[i].x[t]);
        }
        for (int j = 0; j < 2; ++j) {
          wmma::load_matrix_sync(b[j], sb + kk * LDB + wn * 32 + j * 16, LDB);
          if constexpr (sizeof(S) == 4)
            for (int t = 0; t < b[j].num_elements; ++t) b[j].x[t] = wmma::__float_to_tf32(b[j].x[t]);
        }
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
      }
      __syncthreads();
    }
  // Epilogue: each warp stages one 16 x 16 fragment at a time in its own scratch.
  float* mine = sc + warp * 256;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(mine, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        i64 m = m0 + wm * 64 + i * 16 + e / 16, n = n0 + wn * 32 + j * 16 + e % 16;
        if (m < M && n < N) ep.put(z, m, n, typename Acc<T>::type(mine[e]));
      }
      __syncwarp();
    }
#else
  // Below sm_80 (only reachable through NVRTC for an older GPU): the SIMT kernel.
  gemm_simt<T, 128, 128, 8, 8, 8>(la, lb, ep, M, N, K, R);
#endif
}

// The entry point bodies: f32/f64 SIMT (64 x 64 tiles), f16/bf16/tf32 WMMA (128 x 128).
template <class LA, class LB>
__device__ __forceinline__ void gemm_dispatch(const LA& la, const LB& lb, const Epilogue<float>& ep, i64 M,
                                              i64 N, i64 K, i64 R, bool tf32) {
  if (tf32) gemm_wmma<float, float, nvcuda::wmma::precision::tf32, 16, 8>(la, lb, ep, M, N, K, R);
  else gemm_simt<float, 64, 64, 16, 4, 4>(la, lb, ep, M, N, K, R);
}
template <class LA, class LB>
__device__ __forceinline__ void gemm_dispatch(const LA& la, const LB& lb, const Epilogue<double>& ep, i64 M,
                                              i64 N, i64 K, i64 R, bool) {
  gemm_simt<double, 64, 64, 16, 4, 4>(la, lb, ep, M, N, K, R);
}
template <class LA, class LB>
__device__ __forceinline__ void gemm_dispatch(const LA& la, const LB& lb, const Epilogue<__half>& ep, i64 M,
                                              i64 N, i64 K, i64 R, bool) {
  gemm_wmma<__half, __half, __half, 32, 16>(la, lb, ep, M, N, K, R);
}
template <class LA, class LB>
__device__ __forceinline__ void gemm_dispatch(const LA& la, const LB& lb, const Epilogue<__nv_bfloat16>& ep,
                                              i64 M, i64 N, i64 K, i64 R, bool) {
  gemm_wmma<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16, 32, 16>(la, lb, ep, M, N, K, R);
}
// Grid: (ceil(M / tile), ceil(N / tile), Z) -- rows on x, which allows 2^31 - 1 blocks.
// Tile sizes the host must use for the grid (blocks of 256 threads):
//   f32 (no tf32), f64: 64 x 64;  f16, bf16, f32 with tf32: 128 x 128.
