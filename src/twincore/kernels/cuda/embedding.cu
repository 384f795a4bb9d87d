// Embedding on the GPU: the gather, and a deterministic scatter-add without atomics.
//   ids: int32 (ids64 = 0) or int64 (ids64 = 1), n of them; weight / dweight [V, D];
//   out / grad: [n, D] (ids' shape flattened).
// Ids outside [0, V) are never dereferenced: their output rows are zeros, and when `bad`
// is non-null it is set to 1 (the host reads it back if it wants the error; the CPU path
// raises ValueError before running).
#include "common.cuh"

__device__ __forceinline__ i64 id_at(const void* ids, i64 ids64, i64 k) {
  return ids64 ? static_cast<const long long*>(ids)[k] : i64(static_cast<const int*>(ids)[k]);
}

template <typename T>
__device__ __forceinline__ void embedding_body(const T* w, const void* ids, i64 ids64, T* out, i64 n, i64 V, i64 D,
                                               i64* bad) {
  TC_GRID_LOOP(i, n * D) {
    const i64 k = i / D, d = i - k * D, v = id_at(ids, ids64, k);
    const bool ok = v >= 0 && v < V;
    if (!ok && bad) *bad = 1;
    if (ok) out[i] = w[v * D + d];
    else st(out, i, typename Acc<T>::type(0));
  }
}

// Thread (d, vocabulary slice): walks every id in order and adds the grad rows whose id
// falls in its slice into its own column d of acc -- each element has one writer, and the
// sum runs in ids' order: the same bits every run. acc (zeroed by the plan) is the output
// for f32/f64 and a float buffer for f16/bf16 (then embedding_backward_finish).
// Grid: (ceil(D / blockDim.x), number of slices); slice y covers [y * vslice, (y+1) * vslice).
template <typename T>
__device__ __forceinline__ void embedding_backward_body(const T* g, const void* ids, i64 ids64,
                                                        typename Acc<T>::type* acc, i64 n, i64 V, i64 D,
                                                        i64 padding_idx, i64 vslice) {
  const i64 d = i64(blockIdx.x) * blockDim.x + threadIdx.x;
  const i64 v0 = i64(blockIdx.y) * vslice, v1 = v0 + vslice < V ? v0 + vslice : V;
  if (d >= D) return;
  for (i64 k = 0; k < n; ++k) {
    const i64 v = id_at(ids, ids64, k);
    if (v >= v0 && v < v1 && v != padding_idx) acc[v * D + d] += ld(g, k * D + d);
  }
}

template <typename T>
__device__ __forceinline__ void embedding_backward_finish_body(const typename Acc<T>::type* acc, T* dw, i64 n) {
  TC_GRID_LOOP(i, n) st(dw, i, acc[i]);
}

#define TC_EMB(S, T)                                                                                      \
  extern "C" __global__ void embedding_##S(const T* w, const void* ids, i64 ids64, T* out, i64 n, i64 V,  \
                                           i64 D, i64* bad) {                                             \
    embedding_body(w, ids, ids64, out, n, V, D, bad);                                                     \
  }                                                                                                       \
  extern "C" __global__ void embedding_backward_##S(const T* g, const void* ids, i64 ids64,               \
                                                    Acc<T>::type* acc, i64 n, i64 V, i64 D,               \
                                                    i64 padding_idx, i64 vslice) {                        \
    embedding_backward_body(g, ids, ids64, acc, n, V, D, padding_idx, vslice);                            \
  }                                                                                                       \
  extern "C" __global__ void embedding_backward_finish_##S(const Acc<T>::type* acc, T* dw, i64 n) {       \
    embedding_backward_finish_body(acc, dw, n);                                                           \
  }                                                                                                       \
  TC_REGISTER(embedding_##S) TC_REGISTER(embedding_backward_##S) TC_REGISTER(embedding_backward_finish_##S)
TC_FOR_FLOATS(TC_EMB)
#undef TC_EMB
