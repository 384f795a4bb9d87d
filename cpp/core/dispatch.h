// Small helpers to write a kernel once and instantiate it per dtype and per ISA.
#pragma once
#include "core/cpu_features.h"
#include "core/tensor.h"

// TC_FLOAT_TYPES(op, dtype, T, { ...uses T... }): runs the block with T = float or double.
#define TC_FLOAT_TYPES(op, dtype, T, ...)                                           \
  switch (dtype) {                                                                  \
    case ::tc::DType::f32: { using T = float; __VA_ARGS__; } break;                 \
    case ::tc::DType::f64: { using T = double; __VA_ARGS__; } break;                \
    default: throw ::tc::TypeError(::tc::cat("twincore.", op, ": unsupported dtype ", \
                                             ::tc::dtype_name(dtype)));              \
  }

// Helpers called from a TC_ISA_FN body must be TC_INLINE: a plain `inline`
// template used by the three variants may be emitted once, for the generic ISA,
// and called from the wide variants, which then never run wide code.
#define TC_INLINE inline __attribute__((always_inline))

// TC_ISA_FN(name, (params), (args), { body }): defines name_avx512, name_avx2 and
// name_generic from one body (the compiler vectorizes each for its ISA; TC_INLINE
// helpers called from the body are compiled for that ISA too) and a function
// `name` that calls the one matching tc::cpu_isa().
#define TC_ISA_FN(name, params, args, ...)                                           \
  TC_TARGET_AVX512 static void name##_avx512 params __VA_ARGS__                       \
  TC_TARGET_AVX2 static void name##_avx2 params __VA_ARGS__                           \
  static void name##_generic params __VA_ARGS__                                       \
  static void name params {                                                          \
    switch (::tc::cpu_isa()) {                                                       \
      case ::tc::Isa::avx512: name##_avx512 args; break;                             \
      case ::tc::Isa::avx2: name##_avx2 args; break;                                 \
      default: name##_generic args;                                                  \
    }                                                                                \
  }
