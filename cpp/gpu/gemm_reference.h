// A reference GemmProvider (plain loops over HOST memory) for tests in every build: with
// it switched on, the GEMM-based GPU plans (conv2d as GEMM, matmul) run end to end in the
// CPU emulator of tests/kernels/cuda_emu, whose "device" pointers are host pointers.
// It accepts what the cuBLASLt provider accepts (not tanh epilogues; bgrad only unbatched),
// so a plan takes the same route in the tests as on a GPU.
#pragma once
#include "gpu/blas.h"

namespace tc::gpu {

// The provider currently registered (nullptr when none): lets the test switch restore it.
GemmProvider gemm_provider();

// A registered provider may also register a probe that says whether it can run at all
// (cuBLASLt: whether the library was found); gemm_provider_active() is the provider's name
// when it can, else "none" -- what `_core.gemm_provider()` and `twincore check` report.
void set_gemm_probe(bool (*probe)());
const char* gemm_provider_active();

// The reference GEMM itself (host pointers; ignores device and stream). Returns false for
// what cuBLASLt refuses too (tanh epilogues, bgrad with batch > 1, unknown dtypes).
bool reference_gemm(const GemmDesc& d, int device, uintptr_t stream);

// Tests only: on = register reference_gemm as the provider ("reference"), off = restore
// the provider that was registered before. epilogues = false: it declines every epilogue
// (so the plans' unfused fallbacks run).
void use_reference_gemm(bool on, bool epilogues = true);

}  // namespace tc::gpu
