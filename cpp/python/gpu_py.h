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

#include "core/half.h"
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

// The device switch behind both forms of run() below.
template <typename CpuFn, typename GpuFn>
void run_unchecked(pyb::handle allocator, const Tensor& first, const char* op, const char* arg, CpuFn&& cpu,
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

// Runs cpu() (GIL released) for CPU tensors, gpu(Gpu&) for CUDA tensors (GIL held: Python
// launchers and allocators need it), nothing for meta tensors. This form is for ops whose CPU
// kernel takes no floating-point tensors of the caller's dtype (or that handle halves
// themselves): a float16/bfloat16 CPU `first` is refused, since the float kernels would
// misread it. Float ops use the form below, which states their tensors.
template <typename CpuFn, typename GpuFn>
void run(pyb::handle allocator, const Tensor& first, const char* op, const char* arg, CpuFn&& cpu,
         GpuFn&& gpu) {
  if (first.device == Device::cpu && half::is_half(first.dtype))
    type_error(op, arg, "float16/bfloat16 CPU tensors are not supported by this op");
  run_unchecked(allocator, first, op, arg, cpu, gpu);
}

// The form every float op uses: `ins` are the tensors the CPU kernel reads, `outs` those it
// writes (a tensor in both is updated in place; null entries are skipped). On the CPU, half
// tensors among them are computed in float32 (core/half.h: converted in, the float32 kernel
// runs on the views retargeted to scratch, outputs rounded back); CUDA runs halves natively.
template <typename CpuFn, typename GpuFn>
void run(pyb::handle allocator, const Tensor& first, const char* op, const char* arg,
         std::initializer_list<Tensor*> ins, std::initializer_list<Tensor*> outs, CpuFn&& cpu, GpuFn&& gpu) {
  run_unchecked(allocator, first, op, arg, [&] { half::run(ins, outs, cpu); }, gpu);
}

}  // namespace tc::py
