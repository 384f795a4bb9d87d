// The nvcc build's launcher. Every kernel file in src/twincore/kernels/cuda is compiled
// into _core; each extern "C" entry point registers its host stub by name (TC_REGISTER in
// common.cuh) at load time -- a table only, no CUDA call, so importing _core never touches
// a GPU. The ops' plans (cpp/gpu/<op>.cc) hand their launches to the executor of
// cpp/python/gpu_py.cc, which calls this launcher when the caller asked for no other: the
// kernel is found by name and launched with cudaLaunchKernel on the caller's stream and
// device (the 8-byte argument slots of common.cuh's kernel ABI).
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/gpu.h"
#include "python/bridge.h"

namespace {

std::map<std::string, const void*>& kernels() {
  static std::map<std::string, const void*> k;
  return k;
}

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later launches are not blamed
    throw std::runtime_error("twincore: CUDA error in " + what + ": " + cudaGetErrorString(e));
  }
}

// Runs fn with `device` current, restoring the caller's device after.
template <typename F>
void on_device(int device, F fn) {
  int prev = -1;
  check(cudaGetDevice(&prev), "cudaGetDevice");
  if (prev != device) check(cudaSetDevice(device), "cudaSetDevice");
  try {
    fn();
  } catch (...) {
    if (prev != device) cudaSetDevice(prev);
    throw;
  }
  if (prev != device) cudaSetDevice(prev);
}

void launch(const tc::gpu::Launch& l, int device, uintptr_t stream) {
  auto it = kernels().find(l.kernel);
  if (it == kernels().end()) throw std::runtime_error("twincore: no CUDA kernel named '" + l.kernel + "'");
  std::vector<uint64_t> slots = l.slots;  // cudaLaunchKernel takes a pointer to each argument
  std::vector<void*> args(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) args[i] = &slots[i];
  dim3 g(unsigned(l.grid[0]), unsigned(l.grid[1]), unsigned(l.grid[2]));
  dim3 b(unsigned(l.block[0]), unsigned(l.block[1]), unsigned(l.block[2]));
  on_device(device, [&] {
    check(cudaLaunchKernel(it->second, g, b, args.data(), size_t(l.smem), reinterpret_cast<cudaStream_t>(stream)),
          "launching " + l.kernel);
  });
}

void memset0(void* ptr, size_t nbytes, int device, uintptr_t stream) {
  on_device(device, [&] {
    check(cudaMemsetAsync(ptr, 0, nbytes, reinterpret_cast<cudaStream_t>(stream)), "cudaMemsetAsync");
  });
}

const tc::gpu::NativeLauncher kNative{&launch, &memset0};
[[maybe_unused]] const int kRegistered = tc::gpu::set_native_launcher(&kNative);

}  // namespace

int tc_cuda_register(const char* name, const void* fn) {
  kernels()[name] = fn;
  return 0;
}

TC_BIND(cuda) {
  namespace pyb = pybind11;
  m.def("cuda_device_count", [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }, "CUDA devices visible (0 without a driver or GPU).");
  m.def("cuda_kernel_names", [] {
    std::vector<std::string> names;
    for (auto& kv : kernels()) names.push_back(kv.first);
    return names;
  }, "Names of the kernels compiled into this build.");
}
