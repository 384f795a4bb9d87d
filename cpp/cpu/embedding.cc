#include "cpu/embedding.h"

#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/embedding.h"
#include "python/bridge.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

int64_t id_at(const Tensor& ids, int64_t k) {
  return ids.dtype == DType::i32 ? int64_t(ids.ptr<int32_t>()[k]) : ids.ptr<int64_t>()[k];
}

template <typename T>
void gather(const Tensor& ids, const Tensor& weight, const Tensor& out) {
  const int64_t n = ids.numel(), D = weight.size(1);
  const T* w = weight.ptr<T>();
  T* o = out.ptr<T>();
  parallel_for(n, std::max<int64_t>(1, 4096 / D), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) std::memcpy(o + k * D, w + id_at(ids, k) * D, sizeof(T) * D);
  });
}

TC_ISA_FN(add_row_f32, (float* d, const float* g, int64_t n), (d, g, n), {
  for (int64_t j = 0; j < n; ++j) d[j] += g[j];
})
TC_ISA_FN(add_row_f64, (double* d, const double* g, int64_t n), (d, g, n), {
  for (int64_t j = 0; j < n; ++j) d[j] += g[j];
})
inline void add_row(float* d, const float* g, int64_t n) { add_row_f32(d, g, n); }
inline void add_row(double* d, const double* g, int64_t n) { add_row_f64(d, g, n); }

template <typename T>
void scatter_add(const Tensor& grad, const Tensor& ids, int64_t padding_idx, const Tensor& dweight) {
  const int64_t n = ids.numel(), V = dweight.size(0), D = dweight.size(1);
  // Counting sort of the positions by id (stable: each id's positions stay in order).
  std::vector<int64_t> start(V + 1, 0), pos(n);
  for (int64_t k = 0; k < n; ++k) ++start[id_at(ids, k) + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t k = 0; k < n; ++k) pos[fill[id_at(ids, k)]++] = k;
  const T* g = grad.ptr<T>();
  T* dw = dweight.ptr<T>();
  parallel_for(V, std::max<int64_t>(1, 4096 / D), [&](int64_t b, int64_t e) {
    for (int64_t v = b; v < e; ++v) {
      T* row = dw + v * D;
      std::memset(row, 0, sizeof(T) * D);
      if (v == padding_idx) continue;
      for (int64_t q = start[v]; q < start[v + 1]; ++q) add_row(row, g + pos[q] * D, D);
    }
  });
}

}  // namespace

void embedding_check_ids(const Tensor& ids, int64_t V, const char* op) {
  const int64_t n = ids.numel();
  for (int64_t k = 0; k < n; ++k) {
    int64_t id = id_at(ids, k);
    if (id < 0 || id >= V)
      value_error(op, "ids", "holds ", id, " at flat position ", k, ", outside [0, ", V, ")");
  }
}

static void check_ids(const char* op, const Tensor& ids) {
  if (ids.dtype != DType::i32 && ids.dtype != DType::i64)
    type_error(op, "ids", "expected int32 or int64 ids, got ", dtype_name(ids.dtype));
  check_contiguous(op, "ids", ids);
  check_nonempty(op, "ids", ids);
  check_rank(op, "ids", ids, 0, kMaxDims - 1);
}

Shape embedding_check(const Tensor& ids, const Tensor& weight, const char* op) {
  check_ids(op, ids);
  check_input(op, "weight", weight);
  check_rank(op, "weight", weight, 2, 2);
  check_same_device(op, "ids", ids, weight);
  if (ids.device == Device::cpu) embedding_check_ids(ids, weight.size(0), op);  // GPU ids: never read here
  Shape s = ids.shape;
  s.dims[s.ndim++] = weight.size(1);
  return s;
}

void embedding(const Tensor& ids, const Tensor& weight, const Tensor& out) {
  // A gather copies rows: half rows are copied as they are (no float32 round trip).
  if (weight.dtype == DType::f16 || weight.dtype == DType::bf16) return gather<uint16_t>(ids, weight, out);
  TC_FLOAT_TYPES("embedding", weight.dtype, T, gather<T>(ids, weight, out));
}

int64_t embedding_padding_idx(const int64_t* padding_idx, int64_t V, const char* op) {
  if (!padding_idx) return -1;
  const int64_t pad = *padding_idx < 0 ? *padding_idx + V : *padding_idx;
  if (pad < 0 || pad >= V) value_error(op, "padding_idx", "must be in [-", V, ", ", V, "), got ", *padding_idx);
  return pad;
}

void embedding_backward(const Tensor& grad, const Tensor& ids, int64_t padding_idx, const Tensor& dweight) {
  TC_FLOAT_TYPES("embedding_backward", grad.dtype, T, scatter_add<T>(grad, ids, padding_idx, dweight));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

pyb::object embedding_py(pyb::handle ids_obj, pyb::handle w_obj, pyb::handle allocator) {
  const char* op = "embedding";
  auto ids = py::arg(ids_obj, op, "ids");
  auto w = py::arg(w_obj, op, "weight");
  py::device_ready(allocator, w.t, op, "weight");
  Shape s = cpu::embedding_check(ids.t, w.t, op);
  auto out = py::alloc(allocator, s, w.t.dtype, op);
  // no tensors to convert: the gather copies half rows as they are
  py::run(allocator, w.t, op, "weight", {}, {}, [&] { cpu::embedding(ids.t, w.t, out.t); },
          [&](gpu::Gpu& g) { gpu::embedding(g, ids.t, w.t, out.t); });
  return out.obj;
}

pyb::object embedding_backward_py(pyb::handle g_obj, pyb::handle ids_obj, int64_t num_embeddings,
                                  std::optional<int64_t> padding_idx, pyb::handle allocator) {
  const char* op = "embedding_backward";
  auto g = py::arg(g_obj, op, "grad");
  auto ids = py::arg(ids_obj, op, "ids");
  check_input(op, "grad", g.t);
  cpu::check_ids(op, ids.t);
  if (num_embeddings < 1) value_error(op, "num_embeddings", "must be >= 1, got ", num_embeddings);
  check_same_device(op, "ids", ids.t, g.t);
  py::device_ready(allocator, g.t, op, "grad");
  // grad must be ids.shape + (D,)
  bool ok = g.t.ndim() == ids.t.ndim() + 1;
  for (int i = 0; ok && i < ids.t.ndim(); ++i) ok = g.t.size(i) == ids.t.size(i);
  if (!ok) value_error(op, "grad", "expected ids' shape ", ids.t.shape.str(), " plus one last dim, got ",
                       g.t.shape.str());
  const int64_t pad = cpu::embedding_padding_idx(padding_idx ? &*padding_idx : nullptr, num_embeddings, op);
  if (ids.t.device == Device::cpu) cpu::embedding_check_ids(ids.t, num_embeddings, op);  // GPU ids: never read here
  auto dw = py::alloc(allocator, Shape{num_embeddings, g.t.size(-1)}, g.t.dtype, op);
  py::run(allocator, g.t, op, "grad", {&g.t}, {&dw.t}, [&] { cpu::embedding_backward(g.t, ids.t, pad, dw.t); },
          [&](gpu::Gpu& gp) { gpu::embedding_backward(gp, g.t, ids.t, pad, dw.t); });
  return dw.obj;
}

}  // namespace

TC_BIND(embedding) {
  m.def("embedding", &embedding_py, pyb::arg("ids"), pyb::arg("weight"), pyb::arg("alloc"));
  m.def("embedding_backward", &embedding_backward_py, pyb::arg("grad"), pyb::arg("ids"),
        pyb::arg("num_embeddings"), pyb::arg("padding_idx"), pyb::arg("alloc"));
}
