// Which SIMD path the CPU kernels take, chosen once at run time from the CPU's
// flags. TWINCORE_ISA=avx512|avx2|generic forces a path (tests use it to cover
// every path on one machine); asking for more than the CPU has falls back.
#pragma once

namespace tc {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

Isa cpu_isa();              // the path in use
Isa cpu_best_isa();         // the best the CPU supports
void set_cpu_isa(Isa isa);  // clamp to what the CPU supports
const char* isa_name(Isa isa);

}  // namespace tc

// Put in front of a function to compile it for AVX2+FMA or AVX-512 in any
// translation unit, whatever the global flags; call it only when cpu_isa() says so.
#define TC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TC_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
