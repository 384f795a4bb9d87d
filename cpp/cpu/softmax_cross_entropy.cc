#include "cpu/softmax_cross_entropy.h"

#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/softmax.h"
#include "gpu/softmax_cross_entropy.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

using namespace rows;

// What every row needs besides its logits. Works in shifted logits z = x - max so that
// logits of +-1e4 lose no precision: lse(z) = log(sum exp z), loss = S * lse(z) - sum t z,
// with S = sum t, and dlogits = (S * softmax - t) * scale (scale applied last).
template <typename T>
struct Args {
  const T* x;
  int64_t C;
  T smooth;      // label smoothing s
  T scale;       // 1/N for mean, else 1
  T* loss_rows;  // [N] per-row losses
  T* dl;         // [N, C] or nullptr
};

// sum(x - m) over a row, lane-split (summing x first would cancel badly for |x| ~ 1e4).
template <typename T>
TC_ROW_INLINE T row_sum_shifted(const T* x, T m, int64_t n) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += x[j + k] - m;
  T s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; j < n; ++j) s += x[j] - m;
  return s;
}

// The mean's 1/N is applied to the finished per-row gradient, as a separate rounding: the
// result is then bit for bit what a framework gets from the per-row ("none") gradient times
// its upstream 1/N (Keras reduces losses itself), so every frontend trains the same numbers.
template <typename T>
TC_ROW_INLINE void scale_row(T* d, T scale, int64_t C) {
  if (scale != T(1))
    for (int64_t c = 0; c < C; ++c) d[c] *= scale;
}

// Integer labels: t = (1 - s) onehot(y) + s / C, so S = 1 and
// sum t z = (1 - s) z_y + (s / C) sum z.
template <typename T, typename L>
TC_ROW_INLINE void rows_int(const Args<T>& a, const L* labels, int64_t r0, int64_t r1) {
  const int64_t C = a.C;
  const T s = a.smooth, off = s / T(C);
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = a.x + r * C;
    const int64_t y = labels[r];
    T m = row_max(x, C);
    T sum_e = a.dl ? exp_shifted(x, m, a.dl + r * C, C) : exp_shifted_sum(x, m, C);
    T lse = std::log(sum_e);
    T tz = s < T(1) ? (T(1) - s) * (x[y] - m) : T(0);  // s = 1: no 0 * -inf = NaN
    if (s != T(0)) tz += off * row_sum_shifted(x, m, C);
    a.loss_rows[r] = lse - tz;
    if (a.dl) {
      T* d = a.dl + r * C;
      T k = T(1) / sum_e;
      for (int64_t j = 0; j < C; ++j) d[j] = d[j] * k - off;
      d[y] -= T(1) - s;
      scale_row(d, a.scale, C);
    }
  }
}

// Probability labels: t = (1 - s) p + s / C. t z is taken only where t != 0, so a zero
// target against a -inf logit adds 0, not NaN.
template <typename T>
TC_ROW_INLINE void rows_prob(const Args<T>& a, const T* p, int64_t r0, int64_t r1) {
  const int64_t C = a.C;
  const T s = a.smooth, off = s / T(C), keep = T(1) - s;
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = a.x + r * C;
    const T* pr = p + r * C;
    T m = row_max(x, C);
    T sum_e = a.dl ? exp_shifted(x, m, a.dl + r * C, C) : exp_shifted_sum(x, m, C);
    T lse = std::log(sum_e);
    T acc_s[kLanes] = {}, acc_tz[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= C; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        T t = keep * pr[j + k] + off;
        acc_s[k] += t;
        acc_tz[k] += t != T(0) ? t * (x[j + k] - m) : T(0);
      }
    T S = 0, tz = 0;
    for (int k = 0; k < kLanes; ++k) S += acc_s[k], tz += acc_tz[k];
    for (; j < C; ++j) {
      T t = keep * pr[j] + off;
      S += t;
      tz += t != T(0) ? t * (x[j] - m) : T(0);
    }
    a.loss_rows[r] = S * lse - tz;
    if (a.dl) {
      T* d = a.dl + r * C;
      T k = S / sum_e;
      for (int64_t c = 0; c < C; ++c) d[c] = d[c] * k - (keep * pr[c] + off);
      scale_row(d, a.scale, C);
    }
  }
}

#define TC_SCE_FN(name, T, L)                                                                 \
  TC_ISA_FN(name, (const Args<T>& a, const L* lab, int64_t r0, int64_t r1), (a, lab, r0, r1), \
            { rows_int(a, lab, r0, r1); })
TC_SCE_FN(sce_f32_i32, float, int32_t)
TC_SCE_FN(sce_f32_i64, float, int64_t)
TC_SCE_FN(sce_f64_i32, double, int32_t)
TC_SCE_FN(sce_f64_i64, double, int64_t)
#undef TC_SCE_FN
TC_ISA_FN(sce_f32_prob, (const Args<float>& a, const float* p, int64_t r0, int64_t r1),
          (a, p, r0, r1), { rows_prob(a, p, r0, r1); })
TC_ISA_FN(sce_f64_prob, (const Args<double>& a, const double* p, int64_t r0, int64_t r1),
          (a, p, r0, r1), { rows_prob(a, p, r0, r1); })

inline void rows_dispatch(const Args<float>& a, const Tensor& lab, int64_t b, int64_t e) {
  if (lab.dtype == DType::i32) sce_f32_i32(a, lab.ptr<int32_t>(), b, e);
  else if (lab.dtype == DType::i64) sce_f32_i64(a, lab.ptr<int64_t>(), b, e);
  else sce_f32_prob(a, lab.ptr<float>(), b, e);
}
inline void rows_dispatch(const Args<double>& a, const Tensor& lab, int64_t b, int64_t e) {
  if (lab.dtype == DType::i32) sce_f64_i32(a, lab.ptr<int32_t>(), b, e);
  else if (lab.dtype == DType::i64) sce_f64_i64(a, lab.ptr<int64_t>(), b, e);
  else sce_f64_prob(a, lab.ptr<double>(), b, e);
}

template <typename T>
void run(const Tensor& logits, const Tensor& labels, double smoothing, int reduction,
         const Tensor& loss, const Tensor* dlogits) {
  const int64_t N = logits.size(0), C = logits.size(1);
  std::vector<T> per_row(reduction == kReduceNone ? 0 : N);
  Args<T> a{logits.ptr<T>(), C, T(smoothing),
            reduction == kReduceMean ? T(1) / T(N) : T(1),  // as a framework's 1/N in T
            reduction == kReduceNone ? loss.ptr<T>() : per_row.data(),
            dlogits ? dlogits->ptr<T>() : nullptr};
  parallel_for(N, row_grain(C), [&](int64_t b, int64_t e) { rows_dispatch(a, labels, b, e); });
  if (reduction != kReduceNone) {
    double total = 0;  // in double, in row order: deterministic whatever the threads
    for (int64_t r = 0; r < N; ++r) total += per_row[r];
    *loss.ptr<T>() = T(reduction == kReduceMean ? total / double(N) : total);
  }
}

template <typename L>
void check_label_range(const Tensor& labels, int64_t C) {
  const L* y = labels.ptr<L>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (y[i] < 0 || y[i] >= C)
      value_error("softmax_cross_entropy", "labels", "class id ", int64_t(y[i]), " at index ", i,
                  " is out of range [0, ", C, ")");
}

}  // namespace

Shape softmax_cross_entropy_check(const Tensor& logits, const Tensor& labels,
                                  double label_smoothing, int reduction) {
  const char* op = "softmax_cross_entropy";
  check_input(op, "logits", logits);
  check_rank(op, "logits", logits, 2, 2);
  const int64_t N = logits.size(0), C = logits.size(1);
  check_same_device(op, "labels", labels, logits);
  if (labels.dtype == DType::i32 || labels.dtype == DType::i64) {
    check_nonempty(op, "labels", labels);
    check_contiguous(op, "labels", labels);
    check_shape(op, "labels", labels, Shape{N});
  } else if (labels.is_float() || labels.dtype == DType::f16 || labels.dtype == DType::bf16) {
    check_input_like(op, "labels", labels, logits);
    check_shape(op, "labels", labels, Shape{N, C});
  } else {
    type_error(op, "labels", "expected int32/int64 class ids or float probabilities, got ",
               dtype_name(labels.dtype));
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))  // also rejects NaN
    value_error(op, "label_smoothing", "expected a value in [0, 1], got ", label_smoothing);
  if (reduction < 0 || reduction > 2)
    value_error(op, "reduction", "expected 0 (none), 1 (mean) or 2 (sum), got ", reduction);
  // Scan the class ids before computing: an id out of range would index past the row. (CPU
  // only: on the GPU that would cost a copy and a sync; an out-of-range id gives a NaN row.)
  if (labels.device != Device::cpu) return reduction == kReduceNone ? Shape{N} : Shape{};
  if (labels.dtype == DType::i32) check_label_range<int32_t>(labels, C);
  if (labels.dtype == DType::i64) check_label_range<int64_t>(labels, C);
  return reduction == kReduceNone ? Shape{N} : Shape{};
}

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                           int reduction, const Tensor& loss, const Tensor* dlogits) {
  if (logits.dtype == DType::f32)
    run<float>(logits, labels, label_smoothing, reduction, loss, dlogits);
  else
    run<double>(logits, labels, label_smoothing, reduction, loss, dlogits);
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

// A Python number (or anything with __float__, e.g. a NumPy scalar) as a double.
double smoothing_from(pyb::handle v, const char* op) {
  double d = PyFloat_AsDouble(v.ptr());
  if (!(d == -1.0 && PyErr_Occurred())) return d;
  PyErr_Clear();
  type_error(op, "label_smoothing", "expected a float, got ", std::string(pyb::repr(v)));
}

}  // namespace

TC_BIND(softmax_cross_entropy) {
  // need_dlogits=False runs the forward-only path that the tape uses for evaluation.
  m.def("softmax_cross_entropy", [](pyb::handle logits_obj, pyb::handle labels_obj,
                                    pyb::handle smoothing_obj, const std::string& reduction,
                                    bool need_dlogits, pyb::handle allocator) {
    const char* op = "softmax_cross_entropy";
    auto logits = py::arg(logits_obj, op, "logits");
    py::device_ready(allocator, logits.t, op, "logits");
    auto labels = py::arg(labels_obj, op, "labels");
    double s = smoothing_from(smoothing_obj, op);
    int red = choose(op, "reduction", reduction, {"none", "mean", "sum"});
    Shape loss_shape = cpu::softmax_cross_entropy_check(logits.t, labels.t, s, red);
    auto loss = py::alloc(allocator, loss_shape, logits.t.dtype, op);
    std::optional<py::Out> dl;
    if (need_dlogits) dl = py::alloc(allocator, logits.t.shape, logits.t.dtype, op);
    py::run(allocator, logits.t, op, "logits", {&logits.t, &labels.t}, {&loss.t, dl ? &dl->t : nullptr},
            [&] { cpu::softmax_cross_entropy(logits.t, labels.t, s, red, loss.t, dl ? &dl->t : nullptr); },
            [&](gpu::Gpu& g) {
              gpu::softmax_cross_entropy(g, logits.t, labels.t, s, red, loss.t, dl ? &dl->t : nullptr);
            });
    return pyb::make_tuple(loss.obj, dl ? dl->obj : pyb::none());
  });
}
