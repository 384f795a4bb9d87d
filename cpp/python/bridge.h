// The Python side of the core: turning DLPack-capable objects into tc::Tensor
// views, allocating outputs through a caller-given allocator, and registering
// each op file's bindings. Only files under cpp/python and the TC_BIND blocks of
// op files include pybind11; kernels themselves never do.
#pragma once
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "core/geometry.h"
#include "core/tensor.h"

namespace tc::cpu {
enum class Act;  // cpu/activations.h
}

namespace tc::py {

namespace pyb = pybind11;

// A shape-only tensor (twincore.kernels.Meta): read by arg() as a Tensor on Device::meta with
// data == nullptr. A binding given meta inputs validates them and "allocates" meta outputs
// (the caller's alloc returns Meta objects) but runs no kernel (python/gpu_py.h's run):
// the frontends' shape functions ask the ops' own rules this way.
struct MetaTensor {
  Shape shape;
  DType dtype = DType::f32;
};

// An input read from `obj`: a MetaTensor, an object with __dlpack__ (numpy, torch, cupy, our
// Buffer) or a bare "dltensor" capsule (TensorFlow's to_dlpack). `keep` holds the
// capsule so the memory stays valid while the kernel runs.
struct Arg {
  pyb::object keep;
  Tensor t;
};
Arg arg(pyb::handle obj, const char* op, const char* name);

// A faster DLPack export for objects of exactly `type`: fn(obj) -> "dltensor" capsule.
// torch.Tensor.__dlpack__ is Python code (~2 us a call); torch.utils.dlpack.to_dlpack,
// registered by twincore.kernels._array, is ~0.3 us. Other types use __dlpack__.
void register_exporter(pyb::handle type, pyb::object fn);
std::optional<Arg> optional_arg(pyb::handle obj, const char* op, const char* name);  // None -> nullopt

// An output made by calling alloc(shape_tuple, dtype_name) in Python; alloc
// returns an array of the caller's kind (np.empty, torch.empty, Buffer, ...).
struct Out {
  pyb::object obj;
  Tensor t;
};
Out alloc(pyb::handle allocator, const Shape& shape, DType dtype, const char* op);

Shape shape_from(pyb::handle seq, const char* op, const char* name);

// A float option (negative_slope, label_smoothing, eps, momentum): TypeError naming it otherwise.
double float_from(pyb::handle v, const char* op, const char* name);

// An int or a pair of ints (stride, dilation, kernel_size): (h, w).
std::pair<int64_t, int64_t> pair_from(pyb::handle v, const char* op, const char* name);
// Padding: an int, a pair, "same" or "valid" (ValueError otherwise).
PadSpec padding_from(pyb::handle v, const char* op, const char* name);
// A layout string: "NCHW" -> false, "NHWC" -> true (ValueError otherwise).
bool nhwc_from(const std::string& layout, const char* op);
// The same from a Python object: TypeError naming 'layout' when it is not a string.
bool nhwc_from(pyb::handle layout, const char* op);
// A fused activation: None -> none, a string -> cpu::act_from (ValueError naming 'activation'),
// anything else a TypeError naming 'activation'.
cpu::Act act_from(pyb::handle activation, const char* op);

// conv_transpose2d's options, read the same way by its binding and its JAX plan (output_padding
// None -> (-1, -1): the smallest output size).
struct ConvTransposeOptions {
  std::pair<int64_t, int64_t> stride, output_padding, dilation;
  PadSpec padding;
  bool nhwc = false;
};
ConvTransposeOptions conv_transpose2d_options(pyb::handle stride, pyb::handle padding, pyb::handle output_padding,
                                              pyb::handle dilation, pyb::handle layout, const char* op);

// rotate's options, read the same way by its binding and its JAX plan: interpolation and fill
// strings (any case; TypeError / ValueError naming them), fill_value a float or an int,
// layout as nhwc_from. kRotateInterpolations / kRotateFills: the names, in code order.
extern const std::initializer_list<const char*> kRotateInterpolations;  // bilinear 0, nearest 1
extern const std::initializer_list<const char*> kRotateFills;           // zeros 0, constant 1, nearest 2, reflect 3
struct RotateOptions {
  int interpolation = 0, fill = 0;
  double fill_value = 0.0;
  bool nhwc = false;
};
RotateOptions rotate_options(pyb::handle interpolation, pyb::handle fill, pyb::handle fill_value, pyb::handle layout,
                             const char* op);

using BindFn = void (*)(pyb::module_&);
int register_binding(BindFn fn);

}  // namespace tc::py

// Each op file ends with one TC_BIND(name) { m.def(...); } block; the module
// runs every block at import, so adding an op touches no central list.
#define TC_BIND(name)                                                              \
  static void tc_bind_##name(pybind11::module_& m);                                \
  [[maybe_unused]] static int tc_bind_reg_##name = tc::py::register_binding(&tc_bind_##name); \
  static void tc_bind_##name(pybind11::module_& m)
