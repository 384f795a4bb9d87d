// Tape ops with no kernel file of their own: broadcasting add/sub/mul (residual
// connections, biases, scaling), reshape, and full sum/mean reductions.
#include <cstring>

#include "core/dispatch.h"
#include "tape/ops.h"

namespace tc::tape {
namespace {

// Strides (in elements) of a contiguous tensor of shape `in` read as shape
// `out` under NumPy broadcasting: 0 along the axes it is broadcast over.
void view_strides(const Shape& in, const Shape& out, int64_t* st) {
  int off = out.ndim - in.ndim;
  int64_t s = 1;
  for (int i = out.ndim - 1; i >= 0; --i) {
    int j = i - off;
    st[i] = (j < 0 || in[j] == 1) ? 0 : s;
    if (j >= 0) s *= in[j];
  }
}

// f(o, ia, ib) for each element o of `out` (row-major) with the offsets of the
// matching elements of a and b: an odometer over the outer axes, a plain loop
// over the last.
template <typename F>
void for_each2(const Shape& out, const int64_t* sa, const int64_t* sb, F f) {
  int nd = out.ndim;
  if (nd == 0) {
    f(0, 0, 0);
    return;
  }
  int64_t idx[kMaxDims] = {0};
  int64_t n = out.numel(), inner = out[nd - 1], ia = 0, ib = 0;
  const int64_t ja = sa[nd - 1], jb = sb[nd - 1];
  for (int64_t o = 0; o < n; o += inner) {
    for (int64_t j = 0; j < inner; ++j) f(o + j, ia + j * ja, ib + j * jb);
    for (int d = nd - 2; d >= 0; --d) {
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

enum class Bin { add, sub, mul };

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_input(op, "a", a);
  check_input_like(op, "b", b, a);
}

VarPtr binary(const char* op, Bin kind, const VarPtr& a, const VarPtr& b) {
  const Tensor &ta = a->t(), &tb = b->t();
  check_pair(op, ta, tb);
  Shape os = broadcast_shape(op, ta.shape, tb.shape);
  VarPtr out = new_var(os, ta.dtype);
  int64_t sa[kMaxDims], sb[kMaxDims];
  view_strides(ta.shape, os, sa);
  view_strides(tb.shape, os, sb);
  TC_FLOAT_TYPES(op, ta.dtype, T, {
    const T *pa = ta.ptr<T>(), *pb = tb.ptr<T>();
    T* po = out->t().ptr<T>();
    if (ta.shape == tb.shape) {  // the common case (residual adds): one flat loop
      int64_t n = os.numel();
      if (kind == Bin::add) for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
      if (kind == Bin::sub) for (int64_t i = 0; i < n; ++i) po[i] = pa[i] - pb[i];
      if (kind == Bin::mul) for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * pb[i];
    } else {
      for_each2(os, sa, sb, [&](int64_t o, int64_t i, int64_t j) {
        po[o] = kind == Bin::add ? pa[i] + pb[j] : kind == Bin::sub ? pa[i] - pb[j] : pa[i] * pb[j];
      });
    }
  });
  if (!needs_record({&a, &b})) return out;
  record(op, {a, b}, out, [a, b, kind, os](const Tensor& g, Tensor* const* gin) {
    int64_t sa[kMaxDims], sb[kMaxDims], sg[kMaxDims];
    view_strides(a->t().shape, os, sa);
    view_strides(b->t().shape, os, sb);
    view_strides(os, os, sg);
    TC_FLOAT_TYPES("gradient", g.dtype, T, {
      const T* pg = g.ptr<T>();
      const T *pa = a->t().ptr<T>(), *pb = b->t().ptr<T>();
      // d/da: g (times b for mul), summed over the axes a was broadcast along.
      if (gin[0]) {
        T* ga = gin[0]->ptr<T>();
        if (kind == Bin::mul)
          for_each2(os, sa, sb, [&](int64_t o, int64_t i, int64_t j) { ga[i] += pg[o] * pb[j]; });
        else
          for_each2(os, sa, sg, [&](int64_t o, int64_t i, int64_t) { ga[i] += pg[o]; });
      }
      if (gin[1]) {
        T* gb = gin[1]->ptr<T>();
        if (kind == Bin::mul)
          for_each2(os, sb, sa, [&](int64_t o, int64_t j, int64_t i) { gb[j] += pg[o] * pa[i]; });
        else if (kind == Bin::add)
          for_each2(os, sb, sg, [&](int64_t o, int64_t j, int64_t) { gb[j] += pg[o]; });
        else
          for_each2(os, sb, sg, [&](int64_t o, int64_t j, int64_t) { gb[j] -= pg[o]; });
      }
    });
  });
  return out;
}

}  // namespace

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  Shape out;
  out.ndim = a.ndim > b.ndim ? a.ndim : b.ndim;
  for (int i = 0; i < out.ndim; ++i) {
    int ia = a.ndim - out.ndim + i, ib = b.ndim - out.ndim + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      value_error(op, "b", "shape ", b.str(), " does not broadcast with a's shape ", a.str());
    out[i] = da == 1 ? db : da;
  }
  return out;
}

VarPtr add(const VarPtr& a, const VarPtr& b) { return binary("add", Bin::add, a, b); }
VarPtr sub(const VarPtr& a, const VarPtr& b) { return binary("sub", Bin::sub, a, b); }
VarPtr mul(const VarPtr& a, const VarPtr& b) { return binary("mul", Bin::mul, a, b); }

VarPtr reshape(const VarPtr& x, const Shape& shape) {
  const Tensor& tx = x->t();
  check_input("reshape", "x", tx);
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.ndim; ++i) {
    if (s[i] == -1) {
      if (infer >= 0) value_error("reshape", "shape", "only one dimension may be -1, got ", shape.str());
      infer = i;
    } else if (s[i] < 1) {
      value_error("reshape", "shape", "dimensions must be >= 1 (or one -1), got ", shape.str());
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && tx.numel() % known == 0) s[infer] = tx.numel() / known;
  if ((infer >= 0 && tx.numel() % known != 0) || s.numel() != tx.numel())
    value_error("reshape", "shape", "cannot reshape ", tx.shape.str(), " (", tx.numel(),
                " elements) to ", shape.str());
  // A view of the same storage: no copy.
  OwnedTensor v = x->value;
  v.view.shape = s;
  v.view.set_contiguous_strides();
  VarPtr out = std::make_shared<Var>(v);
  if (needs_record({&x}))
    record("reshape", {x}, out, [](const Tensor& g, Tensor* const* gin) {
      std::memcpy(gin[0]->data, g.data, size_t(g.numel()) * dtype_size(g.dtype));
    });
  return out;
}

namespace {

VarPtr reduce_all(const char* op, const VarPtr& x, bool average) {
  const Tensor& tx = x->t();
  check_input(op, "x", tx);
  VarPtr out = new_var(Shape{}, tx.dtype);
  const int64_t n = tx.numel();
  TC_FLOAT_TYPES(op, tx.dtype, T, {
    const T* p = tx.ptr<T>();
    double s = 0;  // a double accumulator keeps float32 sums of many terms accurate
    for (int64_t i = 0; i < n; ++i) s += p[i];
    *out->t().ptr<T>() = T(average ? s / double(n) : s);
  });
  if (needs_record({&x}))
    record(op, {x}, out, [n, average](const Tensor& g, Tensor* const* gin) {
      TC_FLOAT_TYPES("gradient", g.dtype, T, {
        T v = *g.ptr<T>() / T(average ? n : 1);
        T* d = gin[0]->ptr<T>();
        for (int64_t i = 0; i < n; ++i) d[i] = v;
      });
    });
  return out;
}

}  // namespace

VarPtr sum(const VarPtr& x) { return reduce_all("sum", x, false); }
VarPtr mean(const VarPtr& x) { return reduce_all("mean", x, true); }

}  // namespace tc::tape
