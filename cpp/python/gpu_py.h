// How a binding runs its op on the tensors' device. Every binding validates its arguments
// with the same checks on every device and allocates its outputs through the caller's
// `alloc` (python/bridge.h); then py::run picks the kernel:
//   - CPU tensors: the CPU kernel, without the GIL;
//   - CUDA tensors: the op's GPU plan (cpp/gpu/<op>.cc) on a Gpu executor made from `alloc`:
//       alloc.launcher   None: the nvcc build's launcher (cudaLaunchKernel, cpp/cuda/launch.cc);
//                        else a Python object with launch(file, kernel, grid, block, smem,
//                        args_bytes, stream, device, kinds) and memset0(ptr, nbytes, stream,
//                        device) and a `name` (CuPy's NVRTC launcher, the CPU emulator,
//                        a test's recorder);
//       alloc.context(device) -> (stream as int, allow_tf32 as bool), read once per call;
//     scratch buffers come from alloc itself (torch's caching allocator, CuPy's pool) and
//     live until the op returns;
//   - meta tensors (twincore.kernels.Meta): nothing; the binding returns the Meta outputs.
#pragma once
#include <memory>

#include "gpu/gpu.h"
#include "python/bridge.h"

namespace tc::py {

// For a CUDA tensor: ValueError "twincore.<op>: argument '<arg>': CUDA tensors need a CUDA
// build of twincore ... or CuPy" when this call has no executor (no nvcc build and no
// Python launcher). Called where a binding has read its first input, before its other checks.
void device_ready(pyb::handle allocator, const Tensor& t, const char* op, const char* arg);

// The executor for one op call on CUDA tensor t's device.
std::unique_ptr<gpu::Gpu> gpu_for(pyb::handle allocator, const Tensor& t, const char* op, const char* arg);

// Records which backend ran `op` last ("cpu", "cuda", or a Python launcher's name).
void note_backend(const char* op, const std::string& backend);
pyb::dict backends_used();

// Runs cpu() (GIL released) for CPU tensors, gpu(Gpu&) for CUDA tensors (GIL held: Python
// launchers and allocators need it), nothing for meta tensors.
template <typename CpuFn, typename GpuFn>
void run(pyb::handle allocator, const Tensor& first, const char* op, const char* arg, CpuFn&& cpu,
         GpuFn&& gpu) {
  switch (first.device) {
    case Device::cpu: {
      note_backend(op, "cpu");
      pyb::gil_scoped_release nogil;
      cpu();
      break;
    }
    case Device::cuda: {
      auto g = gpu_for(allocator, first, op, arg);
      gpu(*g);
      break;
    }
    case Device::meta: break;
  }
}

}  // namespace tc::py
