// The nvcc build's kernel launcher. Every kernel file in src/twincore/kernels/cuda is
// compiled into _core; each extern "C" entry point registers its host stub by name
// (TC_REGISTER in common.cuh) at load time -- a table only, no CUDA call, so importing
// _core never touches a GPU. twincore.kernels._gpu validates the arguments, sizes the
// grid and calls cuda_launch(name, grid, block, smem, stream, device, args) with the
// 8-byte argument slots packed in a bytes object (the kernel ABI of common.cuh).
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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

dim3 dim_from(const pybind11::tuple& t, const char* what) {
  if (pybind11::len(t) != 3) throw tc::ValueError(std::string("twincore.cuda_launch: ") + what + " needs 3 entries");
  return dim3(t[0].cast<unsigned>(), t[1].cast<unsigned>(), t[2].cast<unsigned>());
}

}  // namespace

int tc_cuda_register(const char* name, const void* fn) {
  kernels()[name] = fn;
  return 0;
}

TC_BIND(cuda) {
  namespace pyb = pybind11;
  m.def("cuda_launch", [](const std::string& name, pyb::tuple grid, pyb::tuple block, int smem, uintptr_t stream,
                          int device, pyb::bytes args) {
    auto it = kernels().find(name);
    if (it == kernels().end()) throw tc::ValueError("twincore.cuda_launch: no kernel named '" + name + "'");
    dim3 g = dim_from(grid, "grid"), b = dim_from(block, "block");
    std::string buf = args;  // 8-byte slots
    std::vector<void*> slots(buf.size() / 8);
    for (size_t i = 0; i < slots.size(); ++i) slots[i] = &buf[8 * i];
    pyb::gil_scoped_release nogil;
    on_device(device, [&] {
      check(cudaLaunchKernel(it->second, g, b, slots.data(), size_t(smem), reinterpret_cast<cudaStream_t>(stream)),
            "launching " + name);
    });
  }, pyb::arg("name"), pyb::arg("grid"), pyb::arg("block"), pyb::arg("smem"), pyb::arg("stream"),
     pyb::arg("device"), pyb::arg("args"), "Launch a registered kernel (twincore.kernels._gpu uses this).");
  m.def("cuda_memset0", [](uintptr_t ptr, size_t nbytes, uintptr_t stream, int device) {
    pyb::gil_scoped_release nogil;
    on_device(device, [&] {
      check(cudaMemsetAsync(reinterpret_cast<void*>(ptr), 0, nbytes, reinterpret_cast<cudaStream_t>(stream)),
            "cudaMemsetAsync");
    });
  });
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
