// Shared by every kernel file. Compiles under nvcc (included by cpp/cuda/<op>.cu) and
// under NVRTC (CuPy RawModule reads the .cu file at run time), so: no host headers.
//
// Kernel ABI (what both launchers rely on): every parameter is 8 bytes -- a pointer,
// a `long long` (counts, sizes, flags) or a `double` (scalars such as lr or fill
// values, converted inside the kernel). Entry points are extern "C" (unmangled names,
// <op>_<dtype>), generated per dtype from one template body by TC_FOR_FLOATS.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef long long i64;

// The accumulator type: float for f32/f16/bf16, double for f64.
template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };

__device__ __forceinline__ float tc_to(float x, float) { return x; }
__device__ __forceinline__ double tc_to(double x, double) { return x; }
__device__ __forceinline__ float tc_to(__half x, float) { return __half2float(x); }
__device__ __forceinline__ float tc_to(__nv_bfloat16 x, float) { return __bfloat162float(x); }

// load as accumulator type / store from accumulator type
template <typename T>
__device__ __forceinline__ typename Acc<T>::type ld(const T* p, i64 i) {
  return tc_to(p[i], typename Acc<T>::type());
}
__device__ __forceinline__ void st(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void st(double* p, i64 i, double v) { p[i] = v; }
__device__ __forceinline__ void st(__half* p, i64 i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void st(__nv_bfloat16* p, i64 i, float v) { p[i] = __float2bfloat16_rn(v); }

// Math on the accumulator type (overloads, so template bodies stay generic).
__device__ __forceinline__ float tc_exp(float x) { return expf(x); }
__device__ __forceinline__ double tc_exp(double x) { return exp(x); }
__device__ __forceinline__ float tc_log(float x) { return logf(x); }
__device__ __forceinline__ double tc_log(double x) { return log(x); }
__device__ __forceinline__ float tc_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double tc_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float tc_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double tc_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float tc_floor(float x) { return floorf(x); }
__device__ __forceinline__ double tc_floor(double x) { return floor(x); }
template <typename A> __device__ __forceinline__ A tc_inf();
template <> __device__ __forceinline__ float tc_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double tc_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }
template <typename A> __device__ __forceinline__ A tc_nan();
template <> __device__ __forceinline__ float tc_nan<float>() { return __int_as_float(0x7fffffff); }
template <> __device__ __forceinline__ double tc_nan<double>() { return __longlong_as_double(0x7ff8000000000000LL); }

// Atomic add into an accumulator buffer (float or double: native on sm_60+).
__device__ __forceinline__ void tc_atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void tc_atomic_add(double* p, double v) { atomicAdd(p, v); }

// Warp and block sums / maxima (blockDim.x a multiple of 32, at most 1024).
template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) {
    A u = __shfl_xor_sync(0xffffffffu, v, o);
    v = (u > v || u != u) ? u : v;  // NaN wins, so a NaN row stays NaN
  }
  return v;
}
// Sum over the block; every thread gets the result. `scratch` holds 32 values.
template <typename A>
__device__ __forceinline__ A block_sum(A v, A* scratch) {
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[wid] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : A(0);
  return warp_sum(v);
}

// Grid-stride loop over [0, n).
#define TC_GRID_LOOP(i, n) \
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += i64(blockDim.x) * gridDim.x)

// Instantiates an entry point per dtype: X(suffix, T) for f32, f64, f16, bf16.
#define TC_FOR_FLOATS(X) X(f32, float) X(f64, double) X(f16, __half) X(bf16, __nv_bfloat16)

// In the nvcc build each entry point is registered by name with the launcher
// (cpp/cuda/registry.cc); under NVRTC (CuPy) names are looked up in the module instead.
#if defined(__CUDACC_RTC__)
#define TC_REGISTER(name)
#elif defined(TC_EMU)  // the CPU emulation used by the tests (tests/kernels/cuda_emu)
#define TC_REGISTER(name) static int tc_reg_##name = tc_emu_reg(#name, &name);
#else
int tc_cuda_register(const char* name, const void* fn);
#define TC_REGISTER(name) \
  static int tc_reg_##name = tc_cuda_register(#name, reinterpret_cast<const void*>(&name));
#endif

// Deterministic final sum of n double partials by one block (fixed order per thread,
// then a fixed tree): out[0] = T(scale * sum). Launch with 1 block of 256 threads.
template <typename T>
__device__ __forceinline__ void finish_sum(const double* part, i64 n, double scale, T* out) {
  __shared__ double scratch[32];
  double s = 0;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x) s += part[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) st(out, 0, typename Acc<T>::type(s * scale));
}
