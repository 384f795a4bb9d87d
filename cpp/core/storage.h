// Memory owned by the core: 64-byte aligned (TensorFlow aborts on DLPack
// buffers that are not), reference counted, and exportable by DLPack without a
// copy. The autograd tape keeps its tensors in these.
#pragma once
#include <memory>

#include "core/dlpack.h"
#include "core/tensor.h"

namespace tc {

constexpr size_t kAlignment = 64;

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  explicit Storage(size_t nbytes, bool zero = true);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// An owned, contiguous CPU tensor: storage + view.
struct OwnedTensor {
  std::shared_ptr<Storage> storage;
  Tensor view;
  OwnedTensor() = default;
  OwnedTensor(const Shape& shape, DType dtype, bool zero = true);
};

// The DLPack dtype of d (TypeError for DType::other).
DLDataType dl_dtype(DType d);

// A DLManagedTensor that keeps `t.storage` alive until the consumer calls its deleter.
DLManagedTensor* to_dlpack(const OwnedTensor& t);

}  // namespace tc
