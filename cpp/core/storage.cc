#include "core/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace tc {

Storage::Storage(size_t n, bool zero) : nbytes(n) {
  size_t padded = (n + kAlignment - 1) / kAlignment * kAlignment;
  data = std::aligned_alloc(kAlignment, padded ? padded : kAlignment);
  if (!data) throw std::bad_alloc();
  if (zero) std::memset(data, 0, padded ? padded : kAlignment);
}

Storage::~Storage() { std::free(data); }

OwnedTensor::OwnedTensor(const Shape& shape, DType dtype, bool zero) {
  for (int i = 0; i < shape.ndim; ++i)
    if (shape[i] < 0) throw ValueError(cat("twincore: negative dimension in shape ", shape.str()));
  storage = std::make_shared<Storage>(size_t(shape.numel()) * dtype_size(dtype), zero);
  view.data = storage->data;
  view.dtype = dtype;
  view.shape = shape;
  view.set_contiguous_strides();
}

namespace {

struct Exported {
  DLManagedTensor managed;
  std::shared_ptr<Storage> storage;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
};

}  // namespace

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::f32: return {kDLFloat, 32, 1};
    case DType::f64: return {kDLFloat, 64, 1};
    case DType::f16: return {kDLFloat, 16, 1};
    case DType::bf16: return {kDLBfloat, 16, 1};
    case DType::i32: return {kDLInt, 32, 1};
    case DType::i64: return {kDLInt, 64, 1};
    case DType::i8: return {kDLInt, 8, 1};
    case DType::u8: return {kDLUInt, 8, 1};
    case DType::boolean: return {kDLBool, 8, 1};
    default: throw TypeError("twincore: cannot export this dtype by DLPack");
  }
}

DLManagedTensor* to_dlpack(const OwnedTensor& t) {
  auto* e = new Exported();
  e->storage = t.storage;
  for (int i = 0; i < t.view.ndim(); ++i) {
    e->shape[i] = t.view.shape[i];
    e->strides[i] = t.view.strides[i];
  }
  DLTensor& d = e->managed.dl_tensor;
  d.data = t.view.data;
  d.device = {kDLCPU, 0};
  d.ndim = t.view.ndim();
  d.dtype = dl_dtype(t.view.dtype);
  d.shape = e->shape;
  d.strides = e->strides;
  d.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* self) { delete static_cast<Exported*>(self->manager_ctx); };
  return &e->managed;
}

}  // namespace tc
