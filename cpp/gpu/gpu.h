// The GPU side of the one host side. Every op's binding validates its arguments with
// the same C++ checks on every device (core/tensor.h, cpu/<op>.h's *_check functions,
// core/geometry.h) and computes its output shapes once; then, for CUDA tensors, it
// calls tc::gpu::<op>(Gpu&, ...) (cpp/gpu/<op>.cc), which only *plans*: it chooses the
// kernel of kernels/cuda/<file>.cu by name and dtype, the grid, the block, the shared
// memory and the 8-byte argument slots, and hands each Launch to a Gpu executor. The
// bindings' executor (cpp/python/gpu_py.cc, made by py::run from the caller's `alloc`)
// takes scratch from the caller's framework and launches through
//
//   - the nvcc build's NativeLauncher (cpp/cuda/launch.cc): cudaLaunchKernel on the
//     kernels compiled into _core, by name, on the caller's stream and device; or
//   - a Python launcher: CuPy's RawModule compiling the same .cu files with NVRTC, the
//     CPU emulator of tests/kernels/cuda_emu, or a test's recording launcher.
//
// This file has no CUDA header: planning compiles (and is tested) in every build.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tc::gpu {

// One kernel launch. Kernel ABI (kernels/cuda/common.cuh): every parameter is 8 bytes,
// a pointer, a long long or a double.
struct Launch {
  std::string file;    // "max_pool2d.cu": the source the kernel lives in (NVRTC compiles per file)
  std::string kernel;  // "max_pool2d_f32": the extern "C" entry point
  int64_t grid[3] = {1, 1, 1}, block[3] = {256, 1, 1};
  int64_t smem = 0;
  std::vector<uint64_t> slots;  // the 8-byte argument slots, in order
  std::string kinds;            // one letter per slot: 'p' pointer, 'i' long long, 'd' double

  Launch(std::string file_, std::string kernel_) : file(std::move(file_)), kernel(std::move(kernel_)) {}
  Launch& p(const void* v) { slots.push_back(reinterpret_cast<uint64_t>(v)); kinds += 'p'; return *this; }
  Launch& p(std::nullptr_t) { return p(static_cast<const void*>(nullptr)); }
  Launch& p(const Tensor& t) { return p(t.data); }
  Launch& p(const Tensor* t) { return p(t ? t->data : nullptr); }
  Launch& i(int64_t v) { slots.push_back(static_cast<uint64_t>(v)); kinds += 'i'; return *this; }
  Launch& d(double v);
  Launch& grid1(int64_t x, int64_t y = 1, int64_t z = 1) { grid[0] = x; grid[1] = y; grid[2] = z; return *this; }
  Launch& block1(int64_t x, int64_t y = 1, int64_t z = 1) { block[0] = x; block[1] = y; block[2] = z; return *this; }
  Launch& shared(int64_t bytes) { smem = bytes; return *this; }
};

// Executes the plans of one op call: launches on the caller's stream and device, zeroes
// buffers, and allocates scratch on the device (through the caller's framework: its
// caching allocator), kept alive until the op returns.
class Gpu {
 public:
  int device = 0;
  uintptr_t stream = 0;  // cudaStream_t of the caller (torch's / CuPy's current stream)
  bool allow_tf32 = false;
  virtual ~Gpu() = default;
  virtual void launch(const Launch& l) = 0;
  virtual void memset0(void* ptr, size_t nbytes) = 0;
  virtual Tensor scratch(const Shape& shape, DType dtype) = 0;  // uninitialised device memory
  void zero(const Tensor& t) { memset0(t.data, size_t(t.numel()) * size_t(dtype_size(t.dtype))); }
};

// The nvcc build's launcher (cpp/cuda/launch.cc registers it when _core loads): kernels
// compiled into _core, launched by name with cudaLaunchKernel. Null in CPU-only builds.
struct NativeLauncher {
  void (*launch)(const Launch& l, int device, uintptr_t stream);
  void (*memset0)(void* ptr, size_t nbytes, int device, uintptr_t stream);
};
int set_native_launcher(const NativeLauncher* n);
const NativeLauncher* native_launcher();

// "f32", "f64", "f16", "bf16": the dtype suffix of kernel names.
const char* suffix(DType d);
// Blocks of `per` threads covering n items, capped (kernels loop grid-stride).
int64_t blocks(int64_t n, int64_t per = 256, int64_t cap = 65535 * 16);

}  // namespace tc::gpu
