#include "cpu/transpose.h"

namespace tc::cpu {
namespace {

#define TC_TRANSPOSE(T)                                                                                  \
  TC_ISA_FN(transpose_##T, (const T* src, int64_t lds, T* dst, int64_t ldd, int64_t rows, int64_t cols), \
            (src, lds, dst, ldd, rows, cols), { transpose_inline(src, lds, dst, ldd, rows, cols); })
TC_TRANSPOSE(float)
TC_TRANSPOSE(double)
#undef TC_TRANSPOSE

}  // namespace

void transpose(const float* src, int64_t lds, float* dst, int64_t ldd, int64_t rows, int64_t cols) {
  transpose_float(src, lds, dst, ldd, rows, cols);
}
void transpose(const double* src, int64_t lds, double* dst, int64_t ldd, int64_t rows, int64_t cols) {
  transpose_double(src, lds, dst, ldd, rows, cols);
}

}  // namespace tc::cpu
