#include "python/bridge.h"

#include <cctype>
#include <unordered_map>
#include <vector>

#include "core/dlpack.h"

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
  const DLTensor& d = m->dl_tensor;
  if (d.ndim < 0 || d.ndim > kMaxDims) value_error(op, name, "rank ", d.ndim, " is above the maximum ", kMaxDims);
  Tensor& t = a.t;
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
  return a;
}

std::optional<Arg> optional_arg(pyb::handle obj, const char* op, const char* name) {
  if (obj.is_none()) return std::nullopt;
  return arg(obj, op, name);
}

Out alloc(pyb::handle allocator, const Shape& shape, DType dtype, const char* op) {
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
    std::string s = v.cast<std::string>();
    for (auto& c : s) c = char(std::tolower(c));
    p.mode = choose(op, name, s, {"same", "valid"}) == 0 ? PadMode::same : PadMode::valid;
    return p;
  }
  auto hw = pair_from(v, op, name);
  p.h = hw.first;
  p.w = hw.second;
  return p;
}

bool nhwc_from(const std::string& layout, const char* op) {
  return choose(op, "layout", layout, {"NCHW", "NHWC"}) == 1;
}

}  // namespace tc::py
