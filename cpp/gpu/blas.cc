// The vendor-GEMM provider slot of blas.h. Constant-initialised atomics: providers
// register from static initializers in other files (cpp/cuda/cublaslt.cc), whose order
// against this file is unspecified, so nothing here may need dynamic initialisation.
#include "gpu/blas.h"
#include "gpu/gemm_reference.h"

#include <atomic>

namespace tc::gpu {

namespace {
std::atomic<GemmProvider> g_provider{nullptr};
std::atomic<const char*> g_name{"none"};
std::atomic<bool (*)()> g_probe{nullptr};
}  // namespace

void set_gemm_provider(GemmProvider p, const char* name) {
  g_provider.store(p);
  g_name.store(p ? name : "none");
}

const char* gemm_provider_name() { return g_name.load(); }

GemmProvider gemm_provider() { return g_provider.load(); }

void set_gemm_probe(bool (*probe)()) { g_probe.store(probe); }

const char* gemm_provider_active() {
  GemmProvider p = g_provider.load();
  bool (*probe)() = g_probe.load();
  if (!p) return "none";
  if (probe && p != &reference_gemm && !probe()) return "none";
  return g_name.load();
}

bool try_gemm(const GemmDesc& d, int device, uintptr_t stream) {
  GemmProvider p = g_provider.load();
  if (!p || d.m <= 0 || d.n <= 0 || d.k < 0 || d.batch <= 0) return false;
  try {
    return p(d, device, stream);
  } catch (...) {  // a provider must not throw; if one does, the plan falls back
    return false;
  }
}

}  // namespace tc::gpu
