#include "python/gpu_py.h"

#include <pybind11/stl.h>

#include "gpu/blas.h"

#include <map>
#include <string>
#include <vector>

namespace tc::py {
namespace {

// Launches through the nvcc build's launcher or a Python launcher object; scratch through
// the caller's allocator.
class PyGpu final : public gpu::Gpu {
 public:
  PyGpu(pyb::handle allocator, pyb::object launcher, const char* op)
      : alloc_(pyb::reinterpret_borrow<pyb::object>(allocator)), launcher_(std::move(launcher)), op_(op) {}

  void launch(const gpu::Launch& l) override {
    if (launcher_.is_none()) {
      gpu::native_launcher()->launch(l, device, stream);
      return;
    }
    pyb::bytes args(reinterpret_cast<const char*>(l.slots.data()), l.slots.size() * 8);
    launcher_.attr("launch")(l.file, l.kernel, pyb::make_tuple(l.grid[0], l.grid[1], l.grid[2]),
                             pyb::make_tuple(l.block[0], l.block[1], l.block[2]), l.smem, args, stream,
                             device, l.kinds);
  }

  void memset0(void* ptr, size_t nbytes) override {
    if (nbytes == 0) return;
    if (launcher_.is_none())
      gpu::native_launcher()->memset0(ptr, nbytes, device, stream);
    else
      launcher_.attr("memset0")(reinterpret_cast<uintptr_t>(ptr), nbytes, stream, device);
  }

  Tensor scratch(const Shape& shape, DType dtype) override {
    Out o = alloc(alloc_, shape, dtype, op_);
    if (o.t.device != Device::cuda || o.t.device_id != device)
      throw std::runtime_error(cat("twincore.", op_, ": the allocator gave scratch memory on ",
                                   device_name(o.t.device), ":", o.t.device_id, ", not cuda:", device));
    keep_.push_back(o.obj);
    return o.t;
  }

 private:
  pyb::object alloc_, launcher_;
  const char* op_;
  std::vector<pyb::object> keep_;  // scratch, alive until the op returns
};

pyb::object launcher_of(pyb::handle allocator) {
  if (pyb::hasattr(allocator, "launcher")) return allocator.attr("launcher");
  return pyb::none();
}

std::map<std::string, std::string>& used() {
  static std::map<std::string, std::string> u;  // guarded by the GIL
  return u;
}

}  // namespace

void device_ready(pyb::handle allocator, const Tensor& t, const char* op, const char* arg) {
  if (t.device != Device::cuda) return;
  if (!gpu::native_launcher() && launcher_of(allocator).is_none())
    value_error(op, arg, "CUDA tensors need a CUDA build of twincore (pip install from source with nvcc "
                "on the PATH) or CuPy (pip install cupy-cuda13x)");
  // Only a GPU allocator (twincore.kernels._array.GpuAlloc: torch / CuPy) may serve CUDA
  // tensors: any other would hand the kernels host memory.
  if (!pyb::hasattr(allocator, "context"))
    value_error(op, arg, "CUDA tensors need outputs on the GPU: pass torch or CuPy arrays (this caller's "
                "allocator is not a GPU one)");
}

std::unique_ptr<gpu::Gpu> gpu_for(pyb::handle allocator, const Tensor& t, const char* op, const char* arg) {
  device_ready(allocator, t, op, arg);
  pyb::object launcher = launcher_of(allocator);
  auto g = std::make_unique<PyGpu>(allocator, launcher, op);
  g->device = t.device_id;
  if (pyb::hasattr(allocator, "context")) {
    pyb::tuple ctx = allocator.attr("context")(t.device_id);
    g->stream = ctx[0].cast<uintptr_t>();
    g->allow_tf32 = ctx[1].cast<bool>();
  }
  note_backend(op, launcher.is_none() ? std::string("cuda")
                                      : pyb::str(pyb::getattr(launcher, "name", pyb::str("python"))).cast<std::string>());
  return g;
}

void note_backend(const char* op, const std::string& backend) {
  auto& u = used();
  auto it = u.find(op);
  if (it == u.end())
    u.emplace(op, backend);
  else if (it->second != backend)
    it->second = backend;
}

pyb::dict backends_used() {
  pyb::dict d;
  for (auto& kv : used()) d[pyb::str(kv.first)] = kv.second;
  return d;
}

}  // namespace tc::py

TC_BIND(gpu_py) {
  m.def("int_pair", [](pybind11::handle v, const std::string& op, const std::string& arg) {
    return tc::py::pair_from(v, op.c_str(), arg.c_str());
  }, "(h, w) from an int or a pair of ints, by the rule every op uses (TypeError naming op and arg).");
  m.def("_backends_used", &tc::py::backends_used, "{op: backend} of the last call of each op.");
}
