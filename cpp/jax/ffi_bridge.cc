#include "jax/ffi_bridge.h"

#include <map>
#include <type_traits>

namespace tc::jax {
namespace {

DType dtype_of(ffi::DataType d) {
  switch (d) {
    case ffi::DataType::F32: return DType::f32;
    case ffi::DataType::F64: return DType::f64;
    case ffi::DataType::F16: return DType::f16;
    case ffi::DataType::BF16: return DType::bf16;
    case ffi::DataType::S32: return DType::i32;
    case ffi::DataType::S64: return DType::i64;
    case ffi::DataType::U8: return DType::u8;
    case ffi::DataType::S8: return DType::i8;
    case ffi::DataType::PRED: return DType::boolean;
    default: return DType::other;
  }
}

Tensor view_of(void* data, ffi::DataType dt, ffi::AnyBuffer::Dimensions dims, Device dev) {
  Tensor t;
  t.data = data;
  t.dtype = dtype_of(dt);
  t.device = dev;
  if (dims.size() > size_t(kMaxDims))
    throw ValueError(cat("twincore: rank ", dims.size(), " is above the maximum ", kMaxDims));
  t.shape.ndim = int(dims.size());
  for (int i = 0; i < t.shape.ndim; ++i) t.shape[i] = dims[i];
  t.set_contiguous_strides();
  return t;
}

using Key = std::pair<std::string, std::string>;
std::map<Key, XLA_FFI_Handler*>& registry() {
  static std::map<Key, XLA_FFI_Handler*> r;
  return r;
}

}  // namespace

template <typename R>
Tensor Remaining<R>::next(const char* name) {
  constexpr bool args = std::is_same_v<R, ffi::RemainingArgs>;
  if (rest_.size() <= i_) value_error(op_, name, args ? "missing array" : "missing result buffer");
  auto b = rest_.template get<ffi::AnyBuffer>(i_++);
  if (!b.has_value()) value_error(op_, name, args ? "not an array" : "bad result buffer");
  return view(*b);
}
template class Remaining<ffi::RemainingArgs>;
template class Remaining<ffi::RemainingRets>;

Tensor view(const ffi::AnyBuffer& b, Device dev) {
  return view_of(b.untyped_data(), b.element_type(), b.dimensions(), dev);
}

Tensor view(ffi::Result<ffi::AnyBuffer>& b, Device dev) {
  return view_of(b->untyped_data(), b->element_type(), b->dimensions(), dev);
}

int add_handler(const char* name, const char* platform, XLA_FFI_Handler* handler) {
  registry()[{name, platform}] = handler;
  return 0;
}

Abstract abstract(pyb::handle shape, pyb::handle dtype, const char* op, const char* arg,
                  bool zero_backed) {
  Abstract a;
  a.t.shape = py::shape_from(shape, op, arg);
  for (int i = 0; i < a.t.shape.ndim; ++i)
    if (a.t.shape[i] < 0) value_error(op, arg, "negative dimension in ", a.t.shape.str());
  std::string name = pyb::str(dtype);
  try {
    a.t.dtype = dtype_from_name(name);
  } catch (const ValueError&) {
    type_error(op, arg, "unsupported dtype ", name);
  }
  a.t.set_contiguous_strides();
  if (zero_backed) {
    a.zeros.assign(size_t(a.t.numel()) * dtype_size(a.t.dtype) + 1, 0);
    a.t.data = a.zeros.data();
  }
  return a;
}

std::optional<Abstract> optional_abstract(pyb::handle shape, pyb::handle dtype, const char* op, const char* arg) {
  if (shape.is_none()) return std::nullopt;
  return abstract(shape, dtype, op, arg);
}

void Plan::output(const Shape& s, DType d) {
  pyb::tuple dims(s.ndim);
  for (int i = 0; i < s.ndim; ++i) dims[i] = pyb::int_(s[i]);
  out.append(pyb::make_tuple(dims, dtype_name(d)));
}

pyb::dict Plan::to_py() const {
  pyb::dict d;
  d["out"] = out;
  d["attrs"] = attrs;
  return d;
}

void pad_attrs(Plan& p, const PadSpec& pad) {
  p.attr("pad_mode", int64_t(pad.mode));
  p.attr("pad_h", pad.h);
  p.attr("pad_w", pad.w);
}

PadSpec pad_from(int64_t mode, int64_t h, int64_t w) {
  PadSpec p;
  p.mode = static_cast<PadMode>(mode);
  p.h = h;
  p.w = w;
  return p;
}

}  // namespace tc::jax

TC_BIND(jax_ffi) {
  m.def("jax_handlers", [](const std::string& platform) {
    pybind11::dict d;
    for (auto& [key, h] : tc::jax::registry())
      if (key.second == platform)
        d[pybind11::str(key.first)] = pybind11::capsule(reinterpret_cast<void*>(h));
    return d;
  }, pybind11::arg("platform") = "cpu",
  "{target name: PyCapsule} of the XLA FFI handlers for `platform` (jax.ffi.register_ffi_target).");
  m.attr("with_jax_ffi") = true;
}
