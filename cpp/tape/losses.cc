// Losses on the tape: MSE and fused softmax cross-entropy. Labels and targets
// are constants (no gradient flows into them).
//
// Interim: these compute in the tape file until cpp/cpu/mse.h and
// cpp/cpu/softmax_cross_entropy.h land; then the node bodies call those kernels.
#include <cmath>
#include <cstring>

#include "core/dispatch.h"
#include "tape/ops.h"

namespace tc::tape {
namespace {

enum Reduction { kMean = 0, kSum = 1, kNone = 2 };

// A constant input copied into core memory, so the node owns what it reads later.
OwnedTensor own_copy(const Tensor& t) {
  OwnedTensor o(t.shape, t.dtype);
  std::memcpy(o.view.data, t.data, size_t(t.numel()) * dtype_size(t.dtype));
  return o;
}

}  // namespace

VarPtr mse(const VarPtr& pred, const Tensor& target, const std::string& reduction) {
  const char* op = "mse";
  const Tensor& p = pred->t();
  check_input(op, "pred", p);
  check_input_like(op, "target", target, p);
  check_shape(op, "target", target, p.shape);
  int red = choose(op, "reduction", reduction, {"mean", "sum", "none"});
  const int64_t n = p.numel();
  VarPtr loss = red == kNone ? new_var_like(p) : new_var(Shape{}, p.dtype);
  OwnedTensor tgt = own_copy(target);
  TC_FLOAT_TYPES(op, p.dtype, T, {
    const T *pp = p.ptr<T>(), *pt = tgt.view.ptr<T>();
    T* pl = loss->t().ptr<T>();
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      T e = pp[i] - pt[i];
      if (red == kNone) pl[i] = e * e;
      else s += double(e) * double(e);
    }
    if (red != kNone) *pl = T(red == kMean ? s / double(n) : s);
  });
  if (needs_record({&pred}))
    record(op, {pred}, loss, [pred, tgt, red, n](const Tensor& g, Tensor* const* gin) {
      TC_FLOAT_TYPES("gradient", g.dtype, T, {
        const T *pp = pred->t().ptr<T>(), *pt = tgt.view.ptr<T>(), *pg = g.ptr<T>();
        T* d = gin[0]->ptr<T>();
        T scale = T(2) / T(red == kMean ? n : 1);
        for (int64_t i = 0; i < n; ++i)
          d[i] = scale * (pp[i] - pt[i]) * (red == kNone ? pg[i] : pg[0]);
      });
    });
  return loss;
}

VarPtr softmax_cross_entropy(const VarPtr& logits, const Tensor& labels, double smoothing,
                             const std::string& reduction) {
  const char* op = "softmax_cross_entropy";
  const Tensor& x = logits->t();
  check_input(op, "logits", x);
  check_rank(op, "logits", x, 2, 2);
  const int64_t N = x.size(0), C = x.size(1);
  int red = choose(op, "reduction", reduction, {"mean", "sum", "none"});
  if (!(smoothing >= 0.0 && smoothing <= 1.0))
    value_error(op, "label_smoothing", "must be in [0, 1], got ", smoothing);
  bool sparse = labels.dtype == DType::i32 || labels.dtype == DType::i64;
  check_contiguous(op, "labels", labels);
  if (sparse) {
    check_shape(op, "labels", labels, Shape{N});
  } else {
    if (!labels.is_float())
      type_error(op, "labels", "expected int32/int64 class ids or float probabilities, got ",
                 dtype_name(labels.dtype));
    check_same_dtype(op, "labels", labels, x);
    check_shape(op, "labels", labels, x.shape);
  }
  if (sparse)
    for (int64_t i = 0; i < N; ++i) {
      int64_t c = labels.dtype == DType::i32 ? labels.ptr<int32_t>()[i] : labels.ptr<int64_t>()[i];
      if (c < 0 || c >= C) value_error(op, "labels", "class id ", c, " at ", i, " is outside [0, ", C, ")");
    }
  VarPtr loss = red == kNone ? new_var(Shape{N}, x.dtype) : new_var(Shape{}, x.dtype);
  OwnedTensor dlogits(x.shape, x.dtype);  // d loss / d logits, made in the same pass
  TC_FLOAT_TYPES(op, x.dtype, T, {
    const T* px = x.ptr<T>();
    T* pd = dlogits.view.ptr<T>();
    T* pl = loss->t().ptr<T>();
    const T off = T(smoothing / double(C)), on = T(1.0 - smoothing) + off;
    const T scale = red == kMean ? T(1) / T(N) : T(1);
    double total = 0;
    for (int64_t i = 0; i < N; ++i) {
      const T* xr = px + i * C;
      T* dr = pd + i * C;
      T m = xr[0];
      for (int64_t j = 1; j < C; ++j) m = xr[j] > m ? xr[j] : m;
      T s = 0;
      for (int64_t j = 0; j < C; ++j) s += std::exp(xr[j] - m);
      const T lse = m + std::log(s);
      int64_t cls = -1;
      if (sparse) cls = labels.dtype == DType::i32 ? labels.ptr<int32_t>()[i] : labels.ptr<int64_t>()[i];
      T li = 0;
      for (int64_t j = 0; j < C; ++j) {
        T t = sparse ? (j == cls ? on : off) : (T(1 - smoothing) * labels.ptr<T>()[i * C + j] + off);
        li += t * (lse - xr[j]);
        dr[j] = (std::exp(xr[j] - lse) - t) * scale;
      }
      if (red == kNone) pl[i] = li;
      total += double(li);
    }
    if (red != kNone) *pl = T(red == kMean ? total / double(N) : total);
  });
  if (needs_record({&logits}))
    record(op, {logits}, loss, [dlogits, red, N, C](const Tensor& g, Tensor* const* gin) {
      TC_FLOAT_TYPES("gradient", g.dtype, T, {
        const T *pd = dlogits.view.ptr<T>(), *pg = g.ptr<T>();
        T* d = gin[0]->ptr<T>();
        for (int64_t i = 0; i < N; ++i) {
          T gi = red == kNone ? pg[i] : pg[0];
          for (int64_t j = 0; j < C; ++j) d[i * C + j] = pd[i * C + j] * gi;
        }
      });
    });
  return loss;
}

}  // namespace tc::tape
