#include "cpu/binary_cross_entropy_with_logits.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "gpu/binary_cross_entropy_with_logits.h"
#include "python/bridge.h"
#include "python/gpu_py.h"

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

// exp(-|x|) and log1p of it, for float as polynomials (Cephes's expf / logf coefficients, ~1 ulp)
// so that the loops below vectorize (libm calls would not); double uses the C library.
TC_INLINE float exp_neg_abs(float x) {
  float v = x < 0.0f ? x : -x;          // -|x|; NaN stays NaN through the polynomial
  v = v < -87.0f ? -87.0f : v;          // exp(-87) ~ 1.6e-38: below it the terms vanish anyway
  // round to nearest by the 1.5 * 2^23 trick (roundf is a libm call on the baseline ISA)
  const float n = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = v - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, 4);
  return p * scale;
}
// log1p(e) for e in [0, 1]: log(u) * e / (u - 1) with u = 1 + e (exact where u rounds to 1).
TC_INLINE float log1p_unit(float e) {
  const float u = 1.0f + e;
  const bool big = u > 1.41421356237f;
  const float m = big ? u * 0.5f : u, k = big ? 1.0f : 0.0f;
  const float f = m - 1.0f, z = f * f;
  float p = 7.0376836292E-2f;
  p = p * f - 1.1514610310E-1f;
  p = p * f + 1.1676998740E-1f;
  p = p * f - 1.2420140846E-1f;
  p = p * f + 1.4249322787E-1f;
  p = p * f - 1.6668057665E-1f;
  p = p * f + 2.0000714765E-1f;
  p = p * f - 2.4999993993E-1f;
  p = p * f + 3.3333331174E-1f;
  float lg = f + (p * f * z - 2.12194440e-4f * k - 0.5f * z) + 0.693359375f * k;
  const float d = u - 1.0f;
  return d == 0.0f ? e : lg * (e / d);
}
TC_INLINE double exp_neg_abs(double x) { return std::exp(-std::fabs(x)); }
TC_INLINE double log1p_unit(double e) { return std::log1p(e); }

constexpr int kLanes = 16;

// One element: its loss, and d loss / d x in *d.
template <typename T>
TC_INLINE T element(T x, T t, T p, T keep, T half, T* d) {
  const T y = keep * t + half;
  const T lw = T(1) + (p - T(1)) * y;
  const T e = exp_neg_abs(x);
  *d = (T(1) - y) - lw * ((x >= T(0) ? e : T(1)) / (T(1) + e));  // (1 - y) - lw * sigmoid(-x)
  return (T(1) - y) * x + lw * (log1p_unit(e) + (x < T(0) ? -x : T(0)));  // ... + lw * softplus(-x)
}

// Elements [r, r + n) with pos_weight w[c] (kPerColumn: w is the row's weights) or the single weight w[0]:
// losses into kLanes independent double lanes (so the loop vectorizes without reassociation),
// local to the span and added into acc at its end: lanes that live across the caller's loop
// over rows stayed in memory and the double sums ran one element at a time (4x slower).
// The 16 double lanes as two 8-double vectors (GCC vector extensions: zmm on AVX-512, pairs of
// ymm / xmm on the narrower paths). Plain arrays here were vectorized or not depending on the
// caller's shape: the same loop ran its double sums one element at a time in one of the two.
typedef double Lanes8 __attribute__((vector_size(64)));
typedef float Floats8 __attribute__((vector_size(32)));

TC_INLINE void add_lanes(const float* l, Lanes8& a0, Lanes8& a1) {
  Floats8 x0, x1;
  __builtin_memcpy(&x0, l, sizeof x0);
  __builtin_memcpy(&x1, l + 8, sizeof x1);
  a0 += __builtin_convertvector(x0, Lanes8);
  a1 += __builtin_convertvector(x1, Lanes8);
}
TC_INLINE void add_lanes(const double* l, Lanes8& a0, Lanes8& a1) {
  Lanes8 x0, x1;
  __builtin_memcpy(&x0, l, sizeof x0);
  __builtin_memcpy(&x1, l + 8, sizeof x1);
  a0 += x0;
  a1 += x1;
}

template <bool kPerColumn, typename T>
TC_INLINE void run_span(const Args<T>& a, int64_t r, int64_t n, const T* w, double* acc_out, double& total) {
  static_assert(kLanes == 16, "two vectors of 8 lanes");
  Lanes8 a0 = {}, a1 = {};
  const T keep = T(1) - a.smooth, half = a.smooth * T(0.5), scale = a.scale, p0 = w[0];
  const T* x = a.x + r;
  const T* t = a.t + r;
  T* loss = a.loss ? a.loss + r : nullptr;
  T* dl = a.dl ? a.dl + r : nullptr;
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    T l[kLanes], d[kLanes];
    for (int k = 0; k < kLanes; ++k) l[k] = element(x[c + k], t[c + k], kPerColumn ? w[c + k] : p0, keep, half, &d[k]);
    add_lanes(l, a0, a1);
    if (loss)
      for (int k = 0; k < kLanes; ++k) loss[c + k] = l[k];
    if (dl) {
      if (scale != T(1))
        for (int k = 0; k < kLanes; ++k) d[k] *= scale;
      for (int k = 0; k < kLanes; ++k) dl[c + k] = d[k];
    }
  }
  for (; c < n; ++c) {
    T d;
    const T l = element(x[c], t[c], kPerColumn ? w[c] : p0, keep, half, &d);
    total += double(l);
    if (loss) loss[c] = l;
    if (dl) dl[c] = scale != T(1) ? d * scale : d;
  }
  for (int k = 0; k < 8; ++k) acc_out[k] += a0[k], acc_out[k + 8] += a1[k];
}

// Elements [i0, i1): the loss and (if asked) the gradient of each; returns their loss sum. With a
// weight per column (period C), [i0, i1) is whole rows.
template <typename T>
TC_INLINE double span(const Args<T>& a, int64_t i0, int64_t i1) {
  double acc[kLanes] = {}, total = 0;
  const T one = T(1);
  if (!a.pw || a.C == 1) {
    run_span<false>(a, i0, i1 - i0, a.pw ? a.pw : &one, acc, total);
  } else {
    for (int64_t r = i0; r < i1; r += a.C) run_span<true>(a, r, a.C, a.pw, acc, total);
  }
  for (int k = 0; k < kLanes; ++k) total += acc[k];
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
  const int64_t M = logits.numel();
  // Blocks of about kBlock elements; whole rows when pos_weight has a weight per column.
  const int64_t C = pos_weight && pos_weight->numel() > 1 ? pos_weight->numel() : 1;
  const int64_t per = C > 1 ? std::max<int64_t>(1, kBlock / C) * C : kBlock;
  const int64_t blocks = (M + per - 1) / per;
  std::vector<double> sums(blocks, 0.0);
  Args<T> a{logits.ptr<T>(), targets.ptr<T>(), pos_weight ? pos_weight->ptr<T>() : nullptr,
            pos_weight ? pos_weight->numel() : 1, T(smoothing),
            reduction == kReduceMean ? T(1) / T(M) : T(1),
            reduction == kReduceNone ? loss.ptr<T>() : nullptr, dlogits ? dlogits->ptr<T>() : nullptr};
  parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) run_block(a, b * per, std::min(M, (b + 1) * per), &sums[b]);
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
    py::device_ready(allocator, logits.t, op, "logits");
    double s = py::float_from(smoothing_obj, op, "label_smoothing");
    int red = reduction_code(op, reduction);
    Shape ls = cpu::binary_cross_entropy_with_logits_check(logits.t, targets.t, pw ? &pw->t : nullptr, s, red);
    auto loss = py::alloc(allocator, ls, logits.t.dtype, op);
    std::optional<py::Out> dl;
    if (need_dlogits) dl = py::alloc(allocator, logits.t.shape, logits.t.dtype, op);
    py::run(allocator, logits.t, op, "logits", {&logits.t, &targets.t, pw ? &pw->t : nullptr},
            {&loss.t, dl ? &dl->t : nullptr},
            [&] { cpu::binary_cross_entropy_with_logits(logits.t, targets.t, pw ? &pw->t : nullptr, s, red, loss.t,
                                                        dl ? &dl->t : nullptr); },
            [&](gpu::Gpu& g) { gpu::binary_cross_entropy_with_logits(g, logits.t, targets.t, pw ? &pw->t : nullptr, s,
                                                                     red, loss.t, dl ? &dl->t : nullptr); });
    return pyb::make_tuple(loss.obj, dl ? dl->obj : pyb::none());
  });
}
