// A CPU emulation of the CUDA execution model, just enough to run twincore's kernel
// files (src/twincore/kernels/cuda/*.cu) compiled by g++ as host code: each block's
// threads are std::threads, __syncthreads a block barrier, warp shuffles an exchange
// through per-warp barriers, __shared__ a static (blocks run one after another),
// atomicAdd under a mutex. For tests only: it checks the kernels' arithmetic and
// indexing on machines without a GPU, not their performance or memory model. The WMMA
// GEMM runs on a stand-in mma.h (whole tiles per thread; see mma.h).
// Force-included before each kernel file (g++ -include emu.h -DTC_EMU).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <utility>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#undef __align__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))

struct TcDim {
  long long x, y, z;
};
struct TcBlock {
  std::barrier<>* block;
  std::barrier<>** warps;
  double* slots;
};
extern thread_local TcDim tc_tid;
extern TcDim tc_bid, tc_bdim, tc_gdim;
extern TcBlock tc_blk;
extern std::mutex tc_atomic_mutex;
#define threadIdx tc_tid
#define blockIdx tc_bid
#define blockDim tc_bdim
#define gridDim tc_gdim

inline void __syncthreads() { tc_blk.block->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { tc_blk.warps[tc_tid.x / 32]->arrive_and_wait(); }
template <typename V>
inline V __shfl_xor_sync(unsigned, V v, int o) {
  const long long t = tc_tid.x;
  tc_blk.slots[t] = double(v);
  tc_blk.warps[t / 32]->arrive_and_wait();
  double r = tc_blk.slots[t ^ o];
  tc_blk.warps[t / 32]->arrive_and_wait();
  return V(r);
}
inline float atomicAdd(float* p, float v) {
  std::lock_guard<std::mutex> g(tc_atomic_mutex);
  float old = *p;
  *p = old + v;
  return old;
}
inline double atomicAdd(double* p, double v) {
  std::lock_guard<std::mutex> g(tc_atomic_mutex);
  double old = *p;
  *p = old + v;
  return old;
}
inline float tc_emu_int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double tc_emu_ll_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
#define __int_as_float tc_emu_int_as_float
#define __longlong_as_double tc_emu_ll_as_double
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
using std::ceil;
using std::cos;
using std::exp;
using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::fmod;
using std::log;
using std::sin;
using std::sqrt;
using std::tanh;

// Registration: every kernel entry point becomes an invoker that reads its arguments from
// 8-byte slots (the kernel ABI of common.cuh).
using TcInvoker = void (*)(void* fn, const uint64_t* slots);
int tc_emu_register(const char* name, void* fn, TcInvoker inv, int nargs);
template <typename T>
inline T tc_slot(uint64_t s) {
  static_assert(sizeof(T) == 8, "kernel parameters are 8 bytes");
  T v;
  std::memcpy(&v, &s, 8);
  return v;
}
template <typename... A, size_t... I>
inline void tc_call(void (*f)(A...), const uint64_t* s, std::index_sequence<I...>) {
  f(tc_slot<A>(s[I])...);
}
template <typename... A>
inline int tc_emu_reg(const char* name, void (*f)(A...)) {
  TcInvoker inv = [](void* fn, const uint64_t* s) {
    tc_call(reinterpret_cast<void (*)(A...)>(fn), s, std::index_sequence_for<A...>{});
  };
  return tc_emu_register(name, reinterpret_cast<void*>(f), inv, int(sizeof...(A)));
}
