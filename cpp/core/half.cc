#include "core/half.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>

#include "core/cpu_features.h"
#include "core/parallel.h"

namespace tc::half {

// ---- scalar conversions (the generic path; the SIMD paths give the same bits) ----------------

static inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f)  // Inf, or NaN quieted (as vcvtph2ps does)
    return from_bits(sign | 0x7f800000u | (mant ? 0x400000u | (mant << 13) : 0));
  if (exp != 0) return from_bits(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return from_bits(sign);
  // denormal: mant * 2^-24, exact in float32
  float v = float(mant) * 5.9604644775390625e-08f;
  return from_bits(sign | bits(v));
}

uint16_t f32_to_f16(float f) {
  const uint32_t u = bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00 | uint16_t((a >> 13) & 0x3ff);  // NaN, quieted
  if (a >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: Inf
  if (a >= 0x38800000u) {                      // normal half (>= 2^-14)
    uint32_t r = a - 0x38000000u;              // rebias 127 -> 15 (in place)
    r += 0xfff + ((r >> 13) & 1);              // round to nearest even
    return sign | uint16_t(r >> 13);
  }
  if (a < 0x33000000u) return sign;  // below half of the smallest denormal (2^-25): zero
  // denormal half: a's value in units of 2^-24 is m >> (126 - e), rounded to nearest even
  const uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
  const int s = int(126 - e);  // 14..24
  uint32_t q = m >> s, rem = m & ((1u << s) - 1), halfway = 1u << (s - 1);
  if (rem > halfway || (rem == halfway && (q & 1))) ++q;
  return sign | uint16_t(q);
}

float bf16_to_f32(uint16_t h) { return from_bits(uint32_t(h) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t u = bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // NaN, quieted
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1)) >> 16);                 // nearest even
}

double load(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::f32: return t.ptr<float>()[i];
    case DType::f64: return t.ptr<double>()[i];
    case DType::f16: return f16_to_f32(t.ptr<uint16_t>()[i]);
    case DType::bf16: return bf16_to_f32(t.ptr<uint16_t>()[i]);
    default: throw TypeError(cat("twincore: half::load of ", dtype_name(t.dtype)));
  }
}

namespace {

// ---- generic ------------------------------------------------------------------------------------

void to_f32_generic(const uint16_t* s, DType d, float* o, int64_t n) {
  if (d == DType::bf16)
    for (int64_t i = 0; i < n; ++i) o[i] = bf16_to_f32(s[i]);
  else
    for (int64_t i = 0; i < n; ++i) o[i] = f16_to_f32(s[i]);
}

void from_f32_generic(const float* s, uint16_t* o, DType d, int64_t n) {
  if (d == DType::bf16)
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(s[i]);
  else
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(s[i]);
}

// ---- AVX2 (+F16C) -------------------------------------------------------------------------------

__attribute__((target("avx2,fma,f16c"))) void to_f32_avx2(const uint16_t* s, DType d, float* o, int64_t n) {
  int64_t i = 0;
  if (d == DType::bf16) {
    for (; i + 8 <= n; i += 8) {
      __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
      _mm256_storeu_ps(o + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; ++i) o[i] = bf16_to_f32(s[i]);
  } else {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(o + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    for (; i < n; ++i) o[i] = f16_to_f32(s[i]);
  }
}

__attribute__((target("avx2,fma,f16c"))) void from_f32_avx2(const float* s, uint16_t* o, DType d, int64_t n) {
  int64_t i = 0;
  if (d == DType::bf16) {
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
      __m256 f = _mm256_loadu_ps(s + i);
      __m256i x = _mm256_castps_si256(f);
      __m256i hi = _mm256_srli_epi32(x, 16);
      __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
      __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
      r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), nan);
      __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; ++i) o[i] = f32_to_bf16(s[i]);
  } else {
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; ++i) o[i] = f32_to_f16(s[i]);
  }
}

// ---- AVX-512 ------------------------------------------------------------------------------------

TC_TARGET_AVX512 void to_f32_avx512(const uint16_t* s, DType d, float* o, int64_t n) {
  int64_t i = 0;
  if (d == DType::bf16) {
    for (; i + 16 <= n; i += 16) {
      __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
      _mm512_storeu_ps(o + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    if (i < n) {
      const __mmask16 k = __mmask16((1u << (n - i)) - 1);
      __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, s + i));
      _mm512_mask_storeu_ps(o + i, k, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
  } else {
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(o + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))));
    if (i < n) {
      const __mmask16 k = __mmask16((1u << (n - i)) - 1);
      _mm512_mask_storeu_ps(o + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, s + i)));
    }
  }
}

TC_TARGET_AVX512 void from_f32_avx512(const float* s, uint16_t* o, DType d, int64_t n) {
  int64_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512 f = _mm512_maskz_loadu_ps(k, s + i);
    __m256i h;
    if (d == DType::bf16) {
      __m512i x = _mm512_castps_si512(f);
      __m512i hi = _mm512_srli_epi32(x, 16);
      __m512i r = _mm512_srli_epi32(
          _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1)))),
          16);
      const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
      r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
      h = _mm512_cvtepi32_epi16(r);
    } else {
      h = _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    _mm256_mask_storeu_epi16(o + i, k, h);
  }
}

bool has_f16c() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c");
  }();
  return yes;
}

void to_f32_chunk(const uint16_t* s, DType d, float* o, int64_t n) {
  switch (cpu_isa()) {
    case Isa::avx512: to_f32_avx512(s, d, o, n); return;
    case Isa::avx2:
      if (has_f16c()) { to_f32_avx2(s, d, o, n); return; }
      [[fallthrough]];
    default: to_f32_generic(s, d, o, n);
  }
}

void from_f32_chunk(const float* s, uint16_t* o, DType d, int64_t n) {
  switch (cpu_isa()) {
    case Isa::avx512: from_f32_avx512(s, o, d, n); return;
    case Isa::avx2:
      if (has_f16c()) { from_f32_avx2(s, o, d, n); return; }
      [[fallthrough]];
    default: from_f32_generic(s, o, d, n);
  }
}

constexpr int64_t kGrain = 1 << 16;  // conversions are memory-bound: split only large tensors

}  // namespace

void to_f32(const void* src, DType d, float* dst, int64_t n) {
  if (!is_half(d)) throw TypeError(cat("twincore: half::to_f32 of ", dtype_name(d)));
  const auto* s = static_cast<const uint16_t*>(src);
  if (n <= kGrain) return to_f32_chunk(s, d, dst, n);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { to_f32_chunk(s + b, d, dst + b, e - b); });
}

void from_f32(const float* src, void* dst, DType d, int64_t n) {
  if (!is_half(d)) throw TypeError(cat("twincore: half::from_f32 to ", dtype_name(d)));
  auto* o = static_cast<uint16_t*>(dst);
  if (n <= kGrain) return from_f32_chunk(src, o, d, n);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { from_f32_chunk(src + b, o + b, d, e - b); });
}

// ---- Scope --------------------------------------------------------------------------------------

Scope::Scope(std::initializer_list<Tensor*> ins, std::initializer_list<Tensor*> outs) {
  for (Tensor* t : ins) add(t, true, false);
  for (Tensor* t : outs) add(t, false, true);
}

Scope::Scope(const std::vector<Tensor*>& ins, const std::vector<Tensor*>& outs) {
  for (Tensor* t : ins) add(t, true, false);
  for (Tensor* t : outs) add(t, false, true);
}

void Scope::add(Tensor* t, bool in, bool out) {
  if (!t) return;
  for (Slot& s : slots_)
    if (s.t == t) {  // listed twice (in and out): in-out
      s.out = s.out || out;
      return;
    }
  if (t->device != Device::cpu || !t->data || !is_half(t->dtype)) return;
  const int64_t n = t->numel();
  std::shared_ptr<void> scratch;
  for (Slot& s : slots_)  // another view of the same memory: share its scratch
    if (s.data == t->data && s.dtype == t->dtype && s.t->numel() >= n) {
      scratch = s.scratch;
      s.out = s.out || out;
      break;
    }
  if (!scratch) {
    const size_t nbytes = (size_t(n) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, nbytes ? nbytes : 64);
    if (!p) throw std::bad_alloc();
    scratch = std::shared_ptr<void>(p, std::free);
    if (in) to_f32(t->data, t->dtype, static_cast<float*>(p), n);
  }
  slots_.push_back(Slot{t, t->data, t->dtype, scratch, out});
  t->data = scratch.get();
  t->dtype = DType::f32;
}

void Scope::finish() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (!s.out) continue;
    bool done = false;  // one write-back per buffer
    for (size_t j = 0; j < i; ++j) done = done || (slots_[j].out && slots_[j].data == s.data);
    if (!done) from_f32(static_cast<const float*>(s.scratch.get()), s.data, s.dtype, s.t->numel());
  }
  finished_ = true;
}

Scope::~Scope() {
  for (Slot& s : slots_) {
    s.t->data = s.data;
    s.t->dtype = s.dtype;
  }
}

}  // namespace tc::half
