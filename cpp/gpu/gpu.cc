#include "gpu/gpu.h"

#include <algorithm>
#include <cstring>

#include "gpu/blas.h"

namespace tc::gpu {

Launch& Launch::d(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  slots.push_back(u);
  kinds += 'd';
  return *this;
}

const char* suffix(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    default: throw TypeError(cat("twincore: no GPU kernels for dtype ", dtype_name(d)));
  }
}

int64_t blocks(int64_t n, int64_t per, int64_t cap) {
  return std::max<int64_t>(1, std::min<int64_t>((n + per - 1) / per, cap));
}

namespace {
const NativeLauncher* g_native = nullptr;
}  // namespace

int set_native_launcher(const NativeLauncher* n) {
  g_native = n;
  return 0;
}
const NativeLauncher* native_launcher() { return g_native; }


}  // namespace tc::gpu
