#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace tc {
namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  return Isa::generic;
}

Isa initial() {
  Isa best = detect();
  if (const char* s = std::getenv("TWINCORE_ISA")) {
    Isa want = !std::strcmp(s, "generic") ? Isa::generic
               : !std::strcmp(s, "avx2")  ? Isa::avx2
                                          : Isa::avx512;
    return want < best ? want : best;
  }
  return best;
}

Isa current = initial();

}  // namespace

Isa cpu_best_isa() {
  static Isa best = detect();
  return best;
}

Isa cpu_isa() { return current; }

void set_cpu_isa(Isa isa) { current = isa < cpu_best_isa() ? isa : cpu_best_isa(); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace tc
