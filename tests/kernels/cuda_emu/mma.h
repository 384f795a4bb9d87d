// Stand-in for CUDA's mma.h in the CPU emulation: the WMMA GEMM is compiled out there
// (no __CUDA_ARCH__), only the type gemm.cuh names for the TF32 path must exist.
#pragma once
namespace nvcuda { namespace wmma { namespace precision { struct tf32 {}; } } }
