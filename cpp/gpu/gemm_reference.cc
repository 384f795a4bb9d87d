// The reference GEMM provider (see gemm_reference.h): double accumulation over host
// pointers, f16/bf16 converted bit by bit (no CUDA header), the epilogues of blas.h.
#include "gpu/gemm_reference.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "python/bridge.h"

namespace tc::gpu {

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  int32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 1;
      while (!(man & 0x400)) {
        man <<= 1;
        --exp;
      }
      man &= 0x3ff;
      bits = sign | uint32_t(exp + 112) << 23 | (man << 13);
    }
  } else {
    bits = sign | uint32_t(exp + 112) << 23 | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {  // round to nearest even, overflow to inf, NaN kept
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds past 65504
  if (ax < 0x38800000u) {  // subnormal half (or zero): value / 2^-24, rounded
    float a;
    std::memcpy(&a, &ax, 4);
    return uint16_t(sign | uint16_t(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);  // round mantissa to 10 bits
  return uint16_t(sign | ((r - 0x38000000u) >> 13));
}

float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet NaN
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

double load(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::f16: return half_to_float(static_cast<const uint16_t*>(p)[i]);
    default: return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
  }
}

void store(DType t, void* p, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = float(v); break;
    case DType::f64: static_cast<double*>(p)[i] = v; break;
    case DType::f16: static_cast<uint16_t*>(p)[i] = float_to_half(float(v)); break;
    default: static_cast<uint16_t*>(p)[i] = float_to_bf16(float(v)); break;
  }
}

// TF32: inputs rounded to 10 mantissa bits (round to nearest, as the tensor cores see them).
double tf32(double v) {
  float f = float(v);
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7f800000u) != 0x7f800000u) x = (x + 0xfffu + ((x >> 13) & 1)) & 0xffffe000u;
  std::memcpy(&f, &x, 4);
  return f;
}

std::atomic<bool> g_epilogues{true};  // tests: false = decline every epilogue (a provider that fuses nothing)
GemmProvider g_saved = nullptr;
const char* g_saved_name = "none";
std::mutex g_switch;

}  // namespace

bool reference_gemm(const GemmDesc& d, int, uintptr_t) {
  if (d.dtype != DType::f32 && d.dtype != DType::f64 && d.dtype != DType::f16 && d.dtype != DType::bf16) return false;
  if (d.epilogue == Epilogue::tanh || d.epilogue == Epilogue::bias_tanh) return false;  // as cuBLASLt
  if (d.epilogue != Epilogue::none && !g_epilogues.load()) return false;
  const bool has_bias = d.epilogue == Epilogue::bias || d.epilogue == Epilogue::bias_relu;
  const bool relu = d.epilogue == Epilogue::relu || d.epilogue == Epilogue::bias_relu;
  const bool bgrad = d.epilogue == Epilogue::bgrad;
  if ((has_bias && !d.bias) || (bgrad && (!d.bias_grad || d.batch != 1))) return false;
  const bool round_tf32 = d.dtype == DType::f32 && d.allow_tf32;
  const DType t = d.dtype;
  std::vector<double> acc(size_t(d.n));
  for (int64_t z = 0; z < d.batch; ++z) {
    const int64_t oa = z * d.stride_a, ob = z * d.stride_b, oc = z * d.stride_c;
    for (int64_t i = 0; i < d.m; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t p = 0; p < d.k; ++p) {
        double a = load(t, d.a, oa + (d.trans_a ? p * d.lda + i : i * d.lda + p));
        if (round_tf32) a = tf32(a);
        if (a == 0.0 && std::isfinite(a)) continue;  // 0 * NaN must still give NaN: only skip finite B
        for (int64_t j = 0; j < d.n; ++j) {
          double b = load(t, d.b, ob + (d.trans_b ? j * d.ldb + p : p * d.ldb + j));
          if (round_tf32) b = tf32(b);
          acc[size_t(j)] += a * b;
        }
      }
      for (int64_t j = 0; j < d.n; ++j) {
        double v = d.alpha * acc[size_t(j)];
        if (d.beta != 0.0) v += d.beta * load(t, d.c, oc + i * d.ldc + j);
        if (has_bias) v += load(t, d.bias, j);
        if (relu) v = v > 0 ? v : (v != v ? v : 0.0);
        store(t, d.c, oc + i * d.ldc + j, v);
      }
    }
  }
  if (bgrad) {  // bias_grad[j] = sum_p op(B)[p, j]
    for (int64_t j = 0; j < d.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < d.k; ++p) s += load(t, d.b, d.trans_b ? j * d.ldb + p : p * d.ldb + j);
      store(t, d.bias_grad, j, s);
    }
  }
  return true;
}

void use_reference_gemm(bool on, bool epilogues) {
  std::lock_guard<std::mutex> lock(g_switch);
  g_epilogues.store(epilogues);
  GemmProvider cur = gemm_provider();
  if (on) {
    if (cur == &reference_gemm) return;
    g_saved = cur;
    g_saved_name = gemm_provider_name();
    set_gemm_provider(&reference_gemm, "reference");
  } else if (cur == &reference_gemm) {
    set_gemm_provider(g_saved, g_saved_name);
  }
}

}  // namespace tc::gpu

namespace {

// Tests only: one GemmDesc from arrays as stored (a [batch?, rows, cols], likewise b; c
// [batch?, m, n]; a 2-d a or b is shared by every batch entry), run by the active provider.
bool gemm_test(pybind11::handle a_obj, pybind11::handle b_obj, pybind11::handle c_obj, pybind11::handle bias_obj,
               pybind11::handle bgrad_obj, bool trans_a, bool trans_b, double alpha, double beta,
               const std::string& epilogue, bool allow_tf32, uintptr_t stream) {
  using namespace tc;
  const char* op = "_gemm_test";
  auto a = py::arg(a_obj, op, "a");
  auto b = py::arg(b_obj, op, "b");
  auto c = py::arg(c_obj, op, "c");
  auto bias = py::optional_arg(bias_obj, op, "bias");
  auto bgrad = py::optional_arg(bgrad_obj, op, "bias_grad");
  for (const Tensor* t : {&a.t, &b.t, &c.t}) check_rank(op, "a/b/c", *t, 2, 3);
  gpu::GemmDesc d;
  d.dtype = c.t.dtype;
  d.trans_a = trans_a;
  d.trans_b = trans_b;
  d.m = c.t.size(-2);
  d.n = c.t.size(-1);
  d.k = trans_a ? a.t.size(-2) : a.t.size(-1);
  if ((trans_a ? a.t.size(-1) : a.t.size(-2)) != d.m || (trans_b ? b.t.size(-1) : b.t.size(-2)) != d.k ||
      (trans_b ? b.t.size(-2) : b.t.size(-1)) != d.n)
    value_error(op, "b", "shapes do not match");
  d.a = a.t.data; d.lda = a.t.size(-1);
  d.b = b.t.data; d.ldb = b.t.size(-1);
  d.c = c.t.data; d.ldc = c.t.size(-1);
  d.batch = c.t.ndim() == 3 ? c.t.size(0) : 1;
  d.stride_a = a.t.ndim() == 3 ? a.t.size(1) * a.t.size(2) : 0;
  d.stride_b = b.t.ndim() == 3 ? b.t.size(1) * b.t.size(2) : 0;
  d.stride_c = d.m * d.n;
  d.alpha = alpha;
  d.beta = beta;
  const int e = choose(op, "epilogue", epilogue, {"none", "bias", "relu", "bias_relu", "tanh", "bias_tanh", "bgrad"});
  d.epilogue = static_cast<gpu::Epilogue>(e);
  d.bias = bias ? bias->t.data : nullptr;
  d.bias_grad = bgrad ? bgrad->t.data : nullptr;
  d.allow_tf32 = allow_tf32;
  pybind11::gil_scoped_release nogil;
  return gpu::try_gemm(d, c.t.device_id, stream);
}

}  // namespace

TC_BIND(gemm_reference) {
  namespace pyb = pybind11;
  m.def("_gemm_test", &gemm_test, pyb::arg("a"), pyb::arg("b"), pyb::arg("c"), pyb::arg("bias") = pyb::none(),
        pyb::arg("bias_grad") = pyb::none(), pyb::arg("trans_a") = false, pyb::arg("trans_b") = false,
        pyb::arg("alpha") = 1.0, pyb::arg("beta") = 0.0, pyb::arg("epilogue") = "none",
        pyb::arg("allow_tf32") = false, pyb::arg("stream") = 0,
        "Tests only: run one GEMM (blas.h's GemmDesc from the arrays' shapes) on the active provider; "
        "False when it declines.");
  m.def("_use_reference_gemm", &tc::gpu::use_reference_gemm, pyb::arg("on"), pyb::arg("epilogues") = true,
        "Tests only: route the GPU plans' GEMMs to a host-memory reference (for the CPU emulator); "
        "epilogues=False makes it decline every fused epilogue (the plans' fallbacks).");
  m.def("gemm_provider", [] { return std::string(tc::gpu::gemm_provider_active()); },
        "The vendor GEMM the GPU plans use: 'cublaslt' (found and loaded), 'reference' (tests) or 'none'.");
}
