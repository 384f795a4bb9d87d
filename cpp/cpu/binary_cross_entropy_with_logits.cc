#include "cpu/binary_cross_entropy_with_logits.h"

#include <cmath>
#include <optional>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "python/bridge.h"

namespace tc::cpu {
namespace {

// Elements per block: each block's loss sum is one double, summed in block order, so the
// reduced loss does not depend on the number of threads.
constexpr int64_t kBlock = 4096;

template <typename T>
struct Args {
  const T* x;
  const T* t;
  const T* pw;     // pos_weight or nullptr
  int64_t C;       // pos_weight's period (the last axis), 1 for a single weight
  T smooth;
  T scale;         // 1/M for mean, else 1
  T* loss;         // per-element losses (reduction none) or nullptr
  T* dl;           // [M] or nullptr
};

// Elements [i0, i1): the loss and (if asked) the gradient of each; returns their loss sum.
template <typename T>
TC_INLINE double span(const Args<T>& a, int64_t i0, int64_t i1) {
  const T keep = T(1) - a.smooth, half = a.smooth * T(0.5);
  double total = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const T x = a.x[i];
    const T y = keep * a.t[i] + half;
    const T lw = a.pw ? T(1) + (a.pw[a.C == 1 ? 0 : i % a.C] - T(1)) * y : T(1);
    const T e = std::exp(-std::fabs(x));
    const T sp_neg = std::log1p(e) + (x < T(0) ? -x : T(0));  // softplus(-x)
    const T l = (T(1) - y) * x + lw * sp_neg;
    if (a.loss) a.loss[i] = l;
    total += double(l);
    if (a.dl) {
      const T sig_neg = x >= T(0) ? e / (T(1) + e) : T(1) / (T(1) + e);  // sigmoid(-x)
      T d = (T(1) - y) - lw * sig_neg;
      if (a.scale != T(1)) d *= a.scale;
      a.dl[i] = d;
    }
  }
  return total;
}

TC_ISA_FN(bce_f32, (const Args<float>& a, int64_t i0, int64_t i1, double* out), (a, i0, i1, out),
          { *out = span(a, i0, i1); })
TC_ISA_FN(bce_f64, (const Args<double>& a, int64_t i0, int64_t i1, double* out), (a, i0, i1, out),
          { *out = span(a, i0, i1); })
inline void run_block(const Args<float>& a, int64_t i0, int64_t i1, double* out) { bce_f32(a, i0, i1, out); }
inline void run_block(const Args<double>& a, int64_t i0, int64_t i1, double* out) { bce_f64(a, i0, i1, out); }

template <typename T>
void run(const Tensor& logits, const Tensor& targets, const Tensor* pos_weight, double smoothing, int reduction,
         const Tensor& loss, const Tensor* dlogits) {
  const int64_t M = logits.numel(), blocks = (M + kBlock - 1) / kBlock;
  std::vector<double> sums(blocks, 0.0);
  Args<T> a{logits.ptr<T>(), targets.ptr<T>(), pos_weight ? pos_weight->ptr<T>() : nullptr,
            pos_weight ? pos_weight->numel() : 1, T(smoothing),
            reduction == kReduceMean ? T(1) / T(M) : T(1),
            reduction == kReduceNone ? loss.ptr<T>() : nullptr, dlogits ? dlogits->ptr<T>() : nullptr};
  parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) run_block(a, b * kBlock, std::min(M, (b + 1) * kBlock), &sums[b]);
  });
  if (reduction != kReduceNone) {
    double total = 0;
    for (double s : sums) total += s;
    *loss.ptr<T>() = T(reduction == kReduceMean ? total / double(M) : total);
  }
}

}  // namespace

Shape binary_cross_entropy_with_logits_check(const Tensor& logits, const Tensor& targets,
                                             const Tensor* pos_weight, double label_smoothing,
                                             int reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  check_input(op, "logits", logits);
  check_input_like(op, "targets", targets, logits);
  check_shape(op, "targets", targets, logits.shape);
  if (pos_weight) {
    check_input_like(op, "pos_weight", *pos_weight, logits);
    const int64_t C = logits.ndim() ? logits.size(-1) : 1;
    if (pos_weight->ndim() != 1 || (pos_weight->size(0) != C && pos_weight->size(0) != 1))
      value_error(op, "pos_weight", "expected shape (", C, ",) (the logits' last axis) or (1,), got ",
                  pos_weight->shape.str());
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))  // also rejects NaN
    value_error(op, "label_smoothing", "expected a value in [0, 1], got ", label_smoothing);
  if (reduction < 0 || reduction > 2)
    value_error(op, "reduction", "expected 0 (none), 1 (mean) or 2 (sum), got ", reduction);
  if (logits.device != Device::cpu)
    value_error(op, "logits", "CUDA tensors are not wired to this op yet (the GPU launch plan lands with cpp/gpu)");
  return reduction == kReduceNone ? logits.shape : Shape{};
}

void binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, const Tensor* pos_weight,
                                      double label_smoothing, int reduction, const Tensor& loss,
                                      const Tensor* dlogits) {
  TC_FLOAT_TYPES("binary_cross_entropy_with_logits", logits.dtype, T,
                 run<T>(logits, targets, pos_weight, label_smoothing, reduction, loss, dlogits));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

double smoothing_arg(pyb::handle v, const char* op) {
  double d = PyFloat_AsDouble(v.ptr());
  if (!(d == -1.0 && PyErr_Occurred())) return d;
  PyErr_Clear();
  type_error(op, "label_smoothing", "expected a float, got ", std::string(pyb::repr(v)));
}

}  // namespace

TC_BIND(binary_cross_entropy_with_logits) {
  // need_dlogits=False: the loss alone (evaluation).
  m.def("binary_cross_entropy_with_logits", [](pyb::handle logits_obj, pyb::handle targets_obj,
                                               pyb::handle pos_weight_obj, pyb::handle smoothing_obj,
                                               const std::string& reduction, bool need_dlogits,
                                               pyb::handle allocator) {
    const char* op = "binary_cross_entropy_with_logits";
    auto logits = py::arg(logits_obj, op, "logits");
    auto targets = py::arg(targets_obj, op, "targets");
    auto pw = py::optional_arg(pos_weight_obj, op, "pos_weight");
    double s = smoothing_arg(smoothing_obj, op);
    int red = choose(op, "reduction", reduction, {"none", "mean", "sum"});
    Shape ls = cpu::binary_cross_entropy_with_logits_check(logits.t, targets.t, pw ? &pw->t : nullptr, s, red);
    auto loss = py::alloc(allocator, ls, logits.t.dtype, op);
    std::optional<py::Out> dl;
    if (need_dlogits) dl = py::alloc(allocator, logits.t.shape, logits.t.dtype, op);
    {
      pyb::gil_scoped_release nogil;
      cpu::binary_cross_entropy_with_logits(logits.t, targets.t, pw ? &pw->t : nullptr, s, red, loss.t,
                                            dl ? &dl->t : nullptr);
    }
    return pyb::make_tuple(loss.obj, dl ? dl->obj : pyb::none());
  });
}
