// Half precision's Python hooks. _core._half_convert: the half conversions (core/half.h): _core._half_convert(src, dst) converts a
// float16/bfloat16 array into a float32 one of the same size, or float32 into a half one, on
// the SIMD path tc::cpu_isa() selects (tests run every path through the isa fixture).
#include "core/half.h"
#include "cpu/gemm_half.h"
#include "python/bridge.h"

TC_BIND(half) {
  namespace pyb = pybind11;
  using namespace tc;
  // Whether bf16 matmuls take the native AVX512-BF16 GEMM now (cpu/gemm_half.h), and a switch
  // for benchmarks and tests to compare it with the converting path in one process.
  m.def("half_gemm_native", &cpu::half_gemm_native);
  m.def("_set_half_gemm_native", &cpu::set_half_gemm_native, pyb::arg("enabled"));
  m.def("_half_convert", [](pyb::handle src_obj, pyb::handle dst_obj) {
    const char* op = "_half_convert";
    auto s = py::arg(src_obj, op, "src");
    auto d = py::arg(dst_obj, op, "dst");
    for (auto* a : {&s, &d}) {
      const char* name = a == &s ? "src" : "dst";
      if (a->t.device != Device::cpu) value_error(op, name, "expected a CPU array");
      check_contiguous(op, name, a->t);
    }
    if (s.t.numel() != d.t.numel())
      value_error(op, "dst", "has ", d.t.numel(), " elements, src has ", s.t.numel());
    const bool up = half::is_half(s.t.dtype) && d.t.dtype == DType::f32;
    const bool down = s.t.dtype == DType::f32 && half::is_half(d.t.dtype);
    if (!up && !down)
      type_error(op, "dst", "expected float16/bfloat16 -> float32 or float32 -> float16/bfloat16, got ",
                 dtype_name(s.t.dtype), " -> ", dtype_name(d.t.dtype));
    pyb::gil_scoped_release nogil;
    if (up) half::to_f32(s.t.data, s.t.dtype, d.t.ptr<float>(), s.t.numel());
    else half::from_f32(s.t.ptr<float>(), d.t.data, d.t.dtype, s.t.numel());
  });
}
