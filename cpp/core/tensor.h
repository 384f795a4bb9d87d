// tc::Tensor: a non-owning view of an n-d array (data pointer, dtype, shape,
// strides in elements, device), read from DLPack or made by the core's allocator.
// Kernels take views; who owns the memory is the caller's business.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace tc {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8, i8, boolean, other };
// meta: shape and dtype only (data == nullptr): the bindings validate and compute output
// shapes for it without running a kernel (twincore.kernels.Meta; the frontends' shape functions).
enum class Device : uint8_t { cpu, cuda, meta };
const char* device_name(Device d);  // "cpu", "cuda", "meta"

constexpr int kMaxDims = 8;

const char* dtype_name(DType d);
int dtype_size(DType d);
DType dtype_from_name(const std::string& name);  // "float32", ... (ValueError if unknown)

struct Shape {
  int ndim = 0;
  int64_t dims[kMaxDims] = {};
  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }
  int64_t numel() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3)"
};

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  int device_id = 0;
  Shape shape;
  int64_t strides[kMaxDims] = {};  // in elements

  int ndim() const { return shape.ndim; }
  int64_t size(int i) const { return shape[i < 0 ? i + shape.ndim : i]; }
  int64_t numel() const { return shape.numel(); }
  bool is_contiguous() const;  // row-major compact (size-1 dims may have any stride)
  bool is_float() const { return dtype == DType::f32 || dtype == DType::f64; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
  void set_contiguous_strides();
};

// Checks shared by every op; each throws ValueError/TypeError naming op and arg.
void check_float(const char* op, const char* arg, const Tensor& t);  // f32, f64, f16, bf16
void check_rank(const char* op, const char* arg, const Tensor& t, int lo, int hi);
void check_contiguous(const char* op, const char* arg, const Tensor& t);
void check_nonempty(const char* op, const char* arg, const Tensor& t);
void check_same_dtype(const char* op, const char* arg, const Tensor& t, const Tensor& ref);
void check_same_device(const char* op, const char* arg, const Tensor& t, const Tensor& ref);
void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected);
// The usual set for a float input: float dtype, contiguous, non-empty.
void check_input(const char* op, const char* arg, const Tensor& t);
// The usual set for a second float input: as check_input, plus same dtype and device as ref.
void check_input_like(const char* op, const char* arg, const Tensor& t, const Tensor& ref);
// Known option strings (e.g. reduction): ValueError listing the allowed values.
int choose(const char* op, const char* arg, const std::string& value,
           std::initializer_list<const char*> allowed);
// A loss's reduction: "none" | "mean" | "sum" -> the kernels' codes 0, 1, 2 (ValueError naming
// op's 'reduction' otherwise).
inline int reduction_code(const char* op, const std::string& reduction) {
  return choose(op, "reduction", reduction, {"none", "mean", "sum"});
}

}  // namespace tc
