// Stand-in for CUDA's mma.h in the CPU emulation. A WMMA fragment is warp-wide on a GPU;
// here every thread of the warp holds the whole tile and does the whole product (the
// same values, so the warp's duplicate stores agree). Enough to check gemm.cuh's WMMA
// tiling, strides and epilogue, not the tensor cores.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}
template <typename T> struct elem { typedef T type; };
template <> struct elem<precision::tf32> { typedef float type; };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int R = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int C = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = R * C;
  typename elem<T>::type x[R * C];
};

template <typename F, typename V>
inline void fill_fragment(F& f, V v) {
  for (auto& e : f.x) e = v;
}
template <typename Use, int M, int N, int K, typename T, typename L, typename P>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm) {
  static_assert(std::is_same<L, row_major>::value, "the emulation loads row-major tiles only");
  typedef fragment<Use, M, N, K, T, L> F;
  for (int r = 0; r < F::R; ++r)
    for (int c = 0; c < F::C; ++c) f.x[r * F::C + c] = p[size_t(r) * ldm + c];
}
template <int M, int N, int K, typename TA, typename TB, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += float(a.x[i * K + k]) * float(b.x[k * N + j]);
      out[i * N + j] = s;
    }
  std::memcpy(d.x, out, sizeof(out));
}
template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t) {
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) p[size_t(r) * ldm + c] = f.x[r * N + c];
}
inline float __float_to_tf32(float x) {  // keep 10 mantissa bits, round to nearest
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace wmma
}  // namespace nvcuda
