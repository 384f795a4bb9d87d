// Half precision (float16, bfloat16) on the CPU: the kernels compute in float32, so an op
// given half tensors runs as
//     convert the half inputs to float32 scratch -> run the float32 kernel -> round the
//     outputs back to the half dtype (round-to-nearest-even)
// The adapter (half::Scope) does this for a whole op: it retargets the op's Tensor views to
// the scratch (dtype f32, same shape and strides) for the kernel call, then writes the
// outputs back and restores the views. Every face uses it: the pybind bindings through
// py::run's overload taking the op's ins/outs (python/gpu_py.h), the JAX FFI handlers
// through jax::run_half (jax/ffi_bridge.h).
//
// Conversions are exact both ways on every half value (f16/bf16 -> f32 is exact; f32 ->
// half rounds to nearest even, overflow to +-Inf, denormals kept, NaN stays NaN (quieted)).
// Paths, chosen by tc::cpu_isa(): AVX-512 (vcvtph2ps/vcvtps2ph zmm, bf16 by integer shifts),
// AVX2 (+F16C), generic C++; all give the same bits. AVX512-BF16's vcvtneps2bf16 is not
// used: it flushes denormals to zero, which would break the exact round trip (and differ
// from torch's and ml_dtypes' rounding).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace tc::half {

inline bool is_half(DType d) { return d == DType::f16 || d == DType::bf16; }

// Element conversions of n contiguous values (parallel and vectorised for large n).
void to_f32(const void* src, DType src_dtype, float* dst, int64_t n);
void from_f32(const float* src, void* dst, DType dst_dtype, int64_t n);

// Scalar reference conversions (the generic path).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// Element i of a contiguous float tensor of any float dtype (f32, f64, f16, bf16) as a double:
// for the few checks that read values (finite angles).
double load(const Tensor& t, int64_t i);

// For the duration of one op: CPU half tensors among `ins` are converted to float32
// scratch, and those among `outs` get float32 scratch; all are retargeted (data, dtype=f32).
// A tensor in both lists is in-out (converted in and written back); two views of the same
// memory share one scratch. Tensors that are null, not on the CPU, without data, or not
// half are left alone, so a binding can list all of its tensors. finish() writes the
// outputs back; the destructor restores the views (without writing back if finish() did
// not run, e.g. when the kernel threw).
class Scope {
 public:
  Scope(std::initializer_list<Tensor*> ins, std::initializer_list<Tensor*> outs);
  Scope(const std::vector<Tensor*>& ins, const std::vector<Tensor*>& outs);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  void finish();
  bool active() const { return !slots_.empty(); }

 private:
  struct Slot {
    Tensor* t;
    void* data;  // the half buffer
    DType dtype;
    std::shared_ptr<void> scratch;
    bool out;
  };
  void add(Tensor* t, bool in, bool out);
  std::vector<Slot> slots_;
  bool finished_ = false;
};

// Runs fn() with the half tensors of ins/outs in float32 (a Scope around the call).
template <typename Fn>
void run(std::initializer_list<Tensor*> ins, std::initializer_list<Tensor*> outs, Fn&& fn) {
  Scope s(ins, outs);
  fn();
  s.finish();
}

}  // namespace tc::half
