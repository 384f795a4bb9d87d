#include "core/tensor.h"

#include <sstream>

namespace tc {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::i8: return "int8";
    case DType::boolean: return "bool";
    default: return "unsupported";
  }
}

const char* device_name(Device d) {
  switch (d) {
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
    default: return "meta";
  }
}

int dtype_size(DType d) {
  switch (d) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    default: return 1;
  }
}

DType dtype_from_name(const std::string& n) {
  for (DType d : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64,
                  DType::u8, DType::i8, DType::boolean})
    if (n == dtype_name(d)) return d;
  throw ValueError(cat("twincore: unknown dtype '", n, "'"));
}

Shape::Shape(std::initializer_list<int64_t> d) {
  for (int64_t v : d) dims[ndim++] = v;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= dims[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[i] != o.dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim; ++i) os << (i ? ", " : "") << dims[i];
  if (ndim == 1) os << ",";
  os << ")";
  return os.str();
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

void Tensor::set_contiguous_strides() {
  int64_t s = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
}

void check_float(const char* op, const char* arg, const Tensor& t) {
  // Halves run everywhere: the GPU kernels accumulate them in float32, the CPU kernels see
  // them as float32 through half::Scope (core/half.h).
  bool ok = t.is_float() || t.dtype == DType::f16 || t.dtype == DType::bf16;
  if (!ok)
    type_error(op, arg, "expected a floating-point tensor (float32, float64, float16 or bfloat16), got ",
               dtype_name(t.dtype));
}

void check_rank(const char* op, const char* arg, const Tensor& t, int lo, int hi) {
  if (t.ndim() < lo || t.ndim() > hi) {
    if (lo == hi) value_error(op, arg, "expected rank ", lo, ", got rank ", t.ndim(), " with shape ", t.shape.str());
    value_error(op, arg, "expected rank ", lo, " to ", hi, ", got rank ", t.ndim(),
                " with shape ", t.shape.str());
  }
}

void check_contiguous(const char* op, const char* arg, const Tensor& t) {
  if (!t.is_contiguous())
    value_error(op, arg, "expected a contiguous (row-major) tensor; got strides that are not "
                "(call .contiguous() / np.ascontiguousarray first)");
}

void check_nonempty(const char* op, const char* arg, const Tensor& t) {
  if (t.numel() == 0) value_error(op, arg, "empty tensor of shape ", t.shape.str());
}

void check_same_dtype(const char* op, const char* arg, const Tensor& t, const Tensor& ref) {
  if (t.dtype != ref.dtype)
    type_error(op, arg, "dtype ", dtype_name(t.dtype), " does not match the first input's ",
               dtype_name(ref.dtype));
}

void check_same_device(const char* op, const char* arg, const Tensor& t, const Tensor& ref) {
  if (t.device != ref.device || t.device_id != ref.device_id)
    value_error(op, arg, "device mix: tensor is on ", device_name(t.device), ":", t.device_id,
                " but the first input is on ", device_name(ref.device), ":", ref.device_id);
}

void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected) {
  if (t.shape != expected)
    value_error(op, arg, "expected shape ", expected.str(), ", got ", t.shape.str());
}

void check_input(const char* op, const char* arg, const Tensor& t) {
  check_float(op, arg, t);
  check_nonempty(op, arg, t);
  check_contiguous(op, arg, t);
}

void check_input_like(const char* op, const char* arg, const Tensor& t, const Tensor& ref) {
  check_same_device(op, arg, t, ref);
  check_input(op, arg, t);
  check_same_dtype(op, arg, t, ref);
}

int choose(const char* op, const char* arg, const std::string& value,
           std::initializer_list<const char*> allowed) {
  int i = 0;
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return i;
    list += cat(i ? ", " : "", "'", a, "'");
    ++i;
  }
  value_error(op, arg, "unknown value '", value, "'; expected one of ", list);
}

}  // namespace tc
