// Tests only: runs the conv-as-GEMM plans (conv2d_gemm.h) end to end without a GPU, on a
// Gpu executor that hands each Launch to the CPU emulator of tests/kernels/cuda_emu
// (libtcemu.so's tc_emu_launch, passed in as an address) and allocates scratch in host
// memory; with _use_reference_gemm(True) the GEMMs run on the host reference. Arrays are
// DLPack objects whose "device" memory is host memory (the tests' FakeCuda).
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/conv2d.h"
#include "gpu/conv2d_gemm.h"
#include "python/bridge.h"

#include <pybind11/stl.h>

namespace tc::gpu {
namespace {

using EmuLaunch = int (*)(const char*, long long, long long, long long, long long, const uint64_t*, int);

class EmuGpu : public Gpu {
 public:
  explicit EmuGpu(uintptr_t fn) : fn_(reinterpret_cast<EmuLaunch>(fn)) {}
  ~EmuGpu() override {
    for (void* p : blocks_) std::free(p);
  }
  void launch(const Launch& l) override {
    if (l.block[1] != 1 || l.block[2] != 1) throw std::runtime_error("emu: 1-d blocks only");
    // The emulator runs a std::thread per GPU thread: cap the grid (kernels loop grid-stride).
    const int rc = fn_(l.kernel.c_str(), std::min<int64_t>(l.grid[0], 8), l.grid[1], l.grid[2], l.block[0],
                       l.slots.data(), int(l.slots.size()));
    if (rc) throw std::runtime_error("emu launch of " + l.kernel + " failed: " + std::to_string(rc));
    launched.push_back(l.kernel);
  }
  void memset0(void* ptr, size_t nbytes) override { std::memset(ptr, 0, nbytes); }
  Tensor scratch(const Shape& shape, DType dtype) override {
    Tensor t;
    t.shape = shape;
    t.dtype = dtype;
    t.device = Device::cuda;
    t.set_contiguous_strides();
    const size_t bytes = size_t(std::max<int64_t>(1, shape.numel())) * size_t(dtype_size(dtype));
    t.data = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    // NaN-filled: a plan that reads scratch it never wrote shows up in the results.
    std::memset(t.data, 0xff, bytes);
    blocks_.push_back(t.data);
    return t;
  }
  std::vector<std::string> launched;

 private:
  EmuLaunch fn_;
  std::vector<void*> blocks_;
};

cpu::Act act_of(pybind11::handle a) {
  return a.is_none() ? cpu::Act::none : cpu::act_from(a.cast<std::string>(), "conv2d");
}

}  // namespace
}  // namespace tc::gpu

TC_BIND(conv2d_gemm_test) {
  namespace pyb = pybind11;
  using namespace tc;
  m.def("_conv2d_gemm_forward_test", [](uintptr_t emu, pyb::handle x_obj, pyb::handle w_obj, pyb::handle b_obj,
                                        pyb::handle y_obj, pyb::handle stride, pyb::handle padding,
                                        pyb::handle dilation, const std::string& layout, pyb::handle activation,
                                        int64_t scratch_limit, bool tf32) {
    const char* op = "conv2d";
    auto x = py::arg(x_obj, op, "x");
    auto w = py::arg(w_obj, op, "w");
    auto b = py::optional_arg(b_obj, op, "bias");
    auto y = py::arg(y_obj, op, "y");
    const bool nhwc = py::nhwc_from(layout, op);
    Shape ys;
    Window2d g = cpu::conv2d_check(x.t, w.t, b ? &b->t : nullptr, py::pair_from(stride, op, "stride"),
                                   py::padding_from(padding, op, "padding"), py::pair_from(dilation, op, "dilation"),
                                   nhwc, &ys, op);
    check_shape(op, "y", y.t, ys);
    gpu::EmuGpu gpu(emu);
    gpu.allow_tf32 = tf32;
    bool ok;
    {
      pyb::gil_scoped_release nogil;
      ok = gpu::conv2d_gemm_forward(gpu, x.t, w.t, b ? &b->t : nullptr, g, nhwc, y.t, gpu::act_of(activation),
                                    scratch_limit);
    }
    return pyb::make_tuple(ok, gpu.launched);
  });
  m.def("_conv2d_gemm_backward_test", [](uintptr_t emu, pyb::handle g_obj, pyb::handle x_obj, pyb::handle w_obj,
                                         pyb::handle dx_obj, pyb::handle dw_obj, pyb::handle db_obj,
                                         pyb::handle y_obj, pyb::handle stride, pyb::handle padding,
                                         pyb::handle dilation, const std::string& layout, pyb::handle activation,
                                         int64_t scratch_limit) {
    const char* op = "conv2d_backward";
    auto gr = py::arg(g_obj, op, "grad");
    auto x = py::arg(x_obj, op, "x");
    auto w = py::arg(w_obj, op, "w");
    auto dx = py::optional_arg(dx_obj, op, "dx");
    auto dw = py::optional_arg(dw_obj, op, "dw");
    auto db = py::optional_arg(db_obj, op, "dbias");
    auto y = py::optional_arg(y_obj, op, "y");
    const bool nhwc = py::nhwc_from(layout, op);
    Shape ys;
    Window2d g = cpu::conv2d_check(x.t, w.t, nullptr, py::pair_from(stride, op, "stride"),
                                   py::padding_from(padding, op, "padding"), py::pair_from(dilation, op, "dilation"),
                                   nhwc, &ys, op);
    check_shape(op, "grad", gr.t, ys);
    if (dx) check_shape(op, "dx", dx->t, x.t.shape);
    if (dw) check_shape(op, "dw", dw->t, w.t.shape);
    if (db) check_shape(op, "dbias", db->t, Shape{nhwc ? w.t.size(3) : w.t.size(0)});
    gpu::EmuGpu gpu(emu);
    bool ok;
    {
      pyb::gil_scoped_release nogil;
      ok = gpu::conv2d_gemm_backward(gpu, gr.t, x.t, w.t, g, nhwc, dx ? &dx->t : nullptr, dw ? &dw->t : nullptr,
                                     db ? &db->t : nullptr, y ? &y->t : nullptr, gpu::act_of(activation),
                                     scratch_limit);
    }
    return pyb::make_tuple(ok, gpu.launched);
  });
}
