#include "python/bridge.h"

#include <cctype>
#include <unordered_map>
#include <vector>

#include "core/dlpack.h"
#include "core/storage.h"
#include "cpu/activations.h"
#include "python/dlpack_exchange.h"

namespace tc::py {
namespace {

DType dtype_from_dl(DLDataType d) {
  if (d.lanes != 1) return DType::other;
  switch (d.code) {
    case kDLFloat:
      return d.bits == 32 ? DType::f32 : d.bits == 64 ? DType::f64 : d.bits == 16 ? DType::f16 : DType::other;
    case kDLBfloat: return d.bits == 16 ? DType::bf16 : DType::other;
    case kDLInt:
      return d.bits == 32 ? DType::i32 : d.bits == 64 ? DType::i64 : d.bits == 8 ? DType::i8 : DType::other;
    case kDLUInt: return d.bits == 8 ? DType::u8 : DType::other;
    case kDLBool: return DType::boolean;
    default: return DType::other;
  }
}

std::vector<BindFn>& registry() {
  static std::vector<BindFn> r;
  return r;
}

// Leaked on purpose: it holds Python objects, which must not be released after the
// interpreter has finalised.
std::unordered_map<PyTypeObject*, pyb::object>& exporters() {
  static auto* e = new std::unordered_map<PyTypeObject*, pyb::object>();
  return *e;
}

// Types whose tensors are read and allocated through their framework's DLPack C exchange
// API (register_exchange). Leaked with the exporters, for the same reason.
std::unordered_map<PyTypeObject*, const DLPackExchangeAPI*>& exchanges() {
  static auto* e = new std::unordered_map<PyTypeObject*, const DLPackExchangeAPI*>();
  return *e;
}

// The Python error a producer's C function set, as text (and cleared).
// ASCII lower case (option strings: padding, rotate's interpolation and fill).
std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string take_python_error() {
  if (!PyErr_Occurred()) return "unknown error";
  pyb::error_already_set e;
  return e.what();
}

// t's shape, strides, dtype and device from a DLTensor (a capsule's or the exchange API's).
void fill_from_dl(const DLTensor& d, Tensor& t, const char* op, const char* name) {
  if (d.ndim < 0 || d.ndim > kMaxDims) value_error(op, name, "rank ", d.ndim, " is above the maximum ", kMaxDims);
  t.data = static_cast<char*>(d.data) + d.byte_offset;
  switch (d.device.device_type) {
    case kDLCPU: case kDLCUDAHost: t.device = Device::cpu; break;
    case kDLCUDA: case kDLCUDAManaged: t.device = Device::cuda; break;
    default: value_error(op, name, "unsupported DLPack device type ", int(d.device.device_type));
  }
  t.device_id = d.device.device_id;
  t.dtype = dtype_from_dl(d.dtype);
  if (t.dtype == DType::other)
    type_error(op, name, "unsupported dtype (DLPack code ", int(d.dtype.code), ", ", int(d.dtype.bits), " bits)");
  t.shape.ndim = d.ndim;
  for (int i = 0; i < d.ndim; ++i) {
    t.shape[i] = d.shape[i];
    if (d.shape[i] < 0) value_error(op, name, "negative dimension");
  }
  if (d.strides) {
    for (int i = 0; i < d.ndim; ++i) t.strides[i] = d.strides[i];
  } else {
    t.set_contiguous_strides();
  }
}

// An allocator (the `alloc` argument of every binding) that makes new tensors of a framework
// through its DLPack C exchange API, on one device: what torch.empty does, without the
// Python call (~1.7 us of a small op's ~11). Callable from Python like every alloc.
struct ExchangeAlloc {
  const DLPackExchangeAPI* api = nullptr;
  DLDevice device{kDLCPU, 0};

  Out make(const Shape& shape, DType dtype, const char* op) const {
    int64_t dims[kMaxDims];
    for (int i = 0; i < shape.ndim; ++i) dims[i] = shape[i];
    DLTensor proto{};
    proto.device = device;
    proto.ndim = shape.ndim;
    proto.dtype = dl_dtype(dtype);
    proto.shape = dims;
    DLManagedTensorVersioned* m = nullptr;
    std::string err;
    auto set_error = [](void* ctx, const char* kind, const char* msg) {
      *static_cast<std::string*>(ctx) = cat(kind ? kind : "Error", ": ", msg ? msg : "");
    };
    if (api->managed_tensor_allocator(&proto, &m, &err, set_error) != 0 || m == nullptr) {
      if (err.empty() && PyErr_Occurred()) err = take_python_error();
      throw std::runtime_error(cat("twincore.", op, ": could not allocate an output: ", err));
    }
    Out o;
    fill_from_dl(m->dl_tensor, o.t, op, "<output>");
    void* py_obj = nullptr;
    if (api->managed_tensor_to_py_object_no_sync(m, &py_obj) != 0 || py_obj == nullptr)
      throw std::runtime_error(cat("twincore.", op, ": could not wrap an output: ", take_python_error()));
    o.obj = pyb::reinterpret_steal<pyb::object>(static_cast<PyObject*>(py_obj));
    return o;
  }
};

const DLPackExchangeAPI* exchange_api_of(pyb::handle type) {
  if (!PyType_Check(type.ptr())) type_error("register_dlpack_exchange", "type", "expected a type");
  pyb::object cap = pyb::getattr(type, "__dlpack_c_exchange_api__", pyb::none());
  if (cap.is_none() || !PyCapsule_IsValid(cap.ptr(), "dlpack_exchange_api")) return nullptr;
  auto* api = static_cast<const DLPackExchangeAPI*>(PyCapsule_GetPointer(cap.ptr(), "dlpack_exchange_api"));
  // Major version 1 fixes the table's layout; the entries used here must be present.
  if (api == nullptr || api->header.version.major != 1 || api->managed_tensor_allocator == nullptr ||
      api->managed_tensor_to_py_object_no_sync == nullptr || api->dltensor_from_py_object_no_sync == nullptr)
    return nullptr;
  return api;
}

}  // namespace

void register_exporter(pyb::handle type, pyb::object fn) {
  if (!PyType_Check(type.ptr())) type_error("register_exporter", "type", "expected a type");
  exporters()[reinterpret_cast<PyTypeObject*>(type.ptr())] = std::move(fn);
}

int register_binding(BindFn fn) {
  registry().push_back(fn);
  return 0;
}

void run_bindings(pyb::module_& m) {
  for (BindFn fn : registry()) fn(m);
}

Arg arg(pyb::handle obj, const char* op, const char* name) {
  Arg a;
  if (obj.is_none()) type_error(op, name, "expected an array, got None");
  if (pyb::isinstance<MetaTensor>(obj)) {
    const auto& m = obj.cast<const MetaTensor&>();
    a.keep = pyb::reinterpret_borrow<pyb::object>(obj);
    a.t.device = Device::meta;
    a.t.dtype = m.dtype;
    a.t.shape = m.shape;
    a.t.set_contiguous_strides();
    return a;
  }
  // The framework's C exchange API: a DLTensor on the stack, no capsule, no Python call.
  // `keep` holds the tensor itself (the DLTensor views its memory while the tensor lives).
  auto& xc = exchanges();
  auto api = xc.empty() ? xc.end() : xc.find(Py_TYPE(obj.ptr()));
  if (api != xc.end()) {
    DLTensor d;
    if (api->second->dltensor_from_py_object_no_sync(obj.ptr(), &d) != 0)
      type_error(op, name, "could not export by DLPack: ", take_python_error());
    a.keep = pyb::reinterpret_borrow<pyb::object>(obj);
    fill_from_dl(d, a.t, op, name);
    return a;
  }
  auto& ex = exporters();
  auto fast = ex.empty() ? ex.end() : ex.find(Py_TYPE(obj.ptr()));
  if (PyCapsule_CheckExact(obj.ptr())) {
    a.keep = pyb::reinterpret_borrow<pyb::object>(obj);
  } else if (fast != ex.end()) {
    try {
      a.keep = fast->second(obj);
    } catch (pyb::error_already_set& e) {
      type_error(op, name, "could not export by DLPack: ", e.what());
    }
  } else if (pyb::hasattr(obj, "__dlpack__")) {
    try {
      a.keep = obj.attr("__dlpack__")();
    } catch (pyb::error_already_set& e) {
      type_error(op, name, "could not export by DLPack: ", e.what());
    }
  } else {
    type_error(op, name, "expected an array that supports DLPack (numpy, torch, cupy, "
               "a TensorFlow DLPack capsule), got ", std::string(pyb::str(pyb::type::handle_of(obj).attr("__name__"))));
  }
  if (!PyCapsule_IsValid(a.keep.ptr(), "dltensor"))
    type_error(op, name, "not an unconsumed 'dltensor' capsule (a capsule can be used only once)");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(a.keep.ptr(), "dltensor"));
  fill_from_dl(m->dl_tensor, a.t, op, name);
  return a;
}

std::optional<Arg> optional_arg(pyb::handle obj, const char* op, const char* name) {
  if (obj.is_none()) return std::nullopt;
  return arg(obj, op, name);
}

Out alloc(pyb::handle allocator, const Shape& shape, DType dtype, const char* op) {
  if (pyb::isinstance<ExchangeAlloc>(allocator)) return allocator.cast<const ExchangeAlloc&>().make(shape, dtype, op);
  pyb::tuple dims(shape.ndim);
  for (int i = 0; i < shape.ndim; ++i) dims[i] = pyb::int_(shape[i]);
  Out o;
  o.obj = allocator(dims, dtype_name(dtype));
  Arg a = arg(o.obj, op, "<output>");
  o.t = a.t;
  if (o.t.shape != shape || o.t.dtype != dtype || !o.t.is_contiguous())
    throw std::runtime_error(cat("twincore.", op, ": the allocator returned a wrong buffer"));
  return o;
}

Shape shape_from(pyb::handle seq, const char* op, const char* name) {
  Shape s;
  try {
    for (auto v : seq) {
      if (s.ndim == kMaxDims) value_error(op, name, "rank above ", kMaxDims);
      s[s.ndim++] = v.cast<int64_t>();
    }
  } catch (pyb::error_already_set&) {
    type_error(op, name, "expected a sequence of ints");
  } catch (pyb::cast_error&) {
    type_error(op, name, "expected a sequence of ints");
  }
  return s;
}

double float_from(pyb::handle v, const char* op, const char* name) {
  const double d = PyFloat_AsDouble(v.ptr());
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    type_error(op, name, "expected a float, got ", std::string(pyb::repr(v)));
  }
  return d;
}

std::pair<int64_t, int64_t> pair_from(pyb::handle v, const char* op, const char* name) {
  // An int (not a bool: True is no size) or a sequence of two of them.
  auto is_int = [](pyb::handle h) { return !PyBool_Check(h.ptr()) && PyIndex_Check(h.ptr()); };
  try {
    if (is_int(v)) {
      int64_t x = v.cast<int64_t>();
      return {x, x};
    }
    if (PySequence_Check(v.ptr()) && !PyUnicode_Check(v.ptr()) && pyb::len(v) == 2) {
      auto seq = pyb::reinterpret_borrow<pyb::sequence>(v);
      pyb::object a = seq[0], b = seq[1];
      if (is_int(a) && is_int(b)) return {a.cast<int64_t>(), b.cast<int64_t>()};
    }
  } catch (pyb::cast_error&) {
  } catch (pyb::error_already_set&) {
  }
  type_error(op, name, "expected an int or a pair of ints, got ", std::string(pyb::repr(v)));
}

PadSpec padding_from(pyb::handle v, const char* op, const char* name) {
  PadSpec p;
  if (PyUnicode_Check(v.ptr())) {
    p.mode = choose(op, name, lower(v.cast<std::string>()), {"same", "valid"}) == 0 ? PadMode::same : PadMode::valid;
    return p;
  }
  auto hw = pair_from(v, op, name);
  p.h = hw.first;
  p.w = hw.second;
  return p;
}

bool nhwc_from(pyb::handle layout, const char* op) {
  if (!PyUnicode_Check(layout.ptr()))
    type_error(op, "layout", "expected 'NCHW' or 'NHWC', got ", std::string(pyb::repr(layout)));
  return nhwc_from(layout.cast<std::string>(), op);
}

bool nhwc_from(const std::string& layout, const char* op) {
  return choose(op, "layout", layout, {"NCHW", "NHWC"}) == 1;
}

cpu::Act act_from(pyb::handle activation, const char* op) {
  if (activation.is_none()) return cpu::Act::none;
  if (!PyUnicode_Check(activation.ptr()))
    type_error(op, "activation", "expected None, 'relu' or 'tanh', got ", std::string(pyb::repr(activation)));
  return cpu::act_from(activation.cast<std::string>(), op);
}

const std::initializer_list<const char*> kRotateInterpolations = {"bilinear", "nearest"};
const std::initializer_list<const char*> kRotateFills = {"zeros", "constant", "nearest", "reflect"};

RotateOptions rotate_options(pyb::handle interpolation, pyb::handle fill, pyb::handle fill_value, pyb::handle layout,
                             const char* op) {
  RotateOptions o;
  auto name = [&](pyb::handle h, const char* arg) {
    if (!PyUnicode_Check(h.ptr())) type_error(op, arg, "expected a string, got ", std::string(pyb::repr(h)));
    return lower(h.cast<std::string>());
  };
  o.interpolation = choose(op, "interpolation", name(interpolation, "interpolation"), kRotateInterpolations);
  o.fill = choose(op, "fill", name(fill, "fill"), kRotateFills);
  if (!PyFloat_Check(fill_value.ptr()) && !PyLong_Check(fill_value.ptr()))
    type_error(op, "fill_value", "expected a float, got ", std::string(pyb::repr(fill_value)));
  o.fill_value = fill_value.cast<double>();
  o.nhwc = nhwc_from(layout, op);
  return o;
}

ConvTransposeOptions conv_transpose2d_options(pyb::handle stride, pyb::handle padding, pyb::handle output_padding,
                                              pyb::handle dilation, pyb::handle layout, const char* op) {
  ConvTransposeOptions o;
  o.nhwc = nhwc_from(layout, op);
  o.stride = py::pair_from(stride, op, "stride");
  o.padding = py::padding_from(padding, op, "padding");
  o.output_padding = output_padding.is_none() ? std::make_pair(int64_t(-1), int64_t(-1))
                                              : py::pair_from(output_padding, op, "output_padding");
  if (!output_padding.is_none() && (o.output_padding.first < 0 || o.output_padding.second < 0))
    value_error(op, "output_padding", "must be >= 0, got (", o.output_padding.first, ", ",
                o.output_padding.second, ")");
  o.dilation = py::pair_from(dilation, op, "dilation");
  return o;
}

}  // namespace tc::py

TC_BIND(dlpack_exchange) {
  using namespace tc;
  namespace pyb = pybind11;
  using tc::py::ExchangeAlloc;
  m.def("register_dlpack_exchange", [](pyb::handle type) {
        const DLPackExchangeAPI* api = tc::py::exchange_api_of(type);
        if (api != nullptr) tc::py::exchanges()[reinterpret_cast<PyTypeObject*>(type.ptr())] = api;
        return api != nullptr;
      }, pyb::arg("type"),
      "Read tensors of exactly `type` through its __dlpack_c_exchange_api__ (DLPack 1.x C API) instead of "
      "a DLPack capsule; False (and nothing registered) when the type offers no usable API.");
  pyb::class_<ExchangeAlloc>(m, "DLPackAlloc",
      "An `alloc` for the ops that makes new tensors of `type`'s framework through its DLPack C exchange "
      "API (torch.empty without the Python call). alloc(shape, dtype_name) -> tensor.")
      .def(pyb::init([](pyb::handle type, int device_type, int device_id) {
             ExchangeAlloc a;
             a.api = tc::py::exchange_api_of(type);
             if (a.api == nullptr)
               type_error("DLPackAlloc", "type", "this type offers no usable __dlpack_c_exchange_api__");
             a.device = DLDevice{static_cast<DLDeviceType>(device_type), device_id};
             return a;
           }), pyb::arg("type"), pyb::arg("device_type") = int(kDLCPU), pyb::arg("device_id") = 0)
      .def("__call__", [](const ExchangeAlloc& a, pyb::handle shape, const std::string& dtype) {
             return a.make(tc::py::shape_from(shape, "DLPackAlloc", "shape"), dtype_from_name(dtype), "DLPackAlloc").obj;
           }, pyb::arg("shape"), pyb::arg("dtype"));
}
