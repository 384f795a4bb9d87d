// Test-only: runs the GPU plans of cpp/gpu (lstm, embedding, sigmoid) on the CPU emulation
// of the CUDA kernels (emu.cc's tc_emu_launch, passed in as a function pointer), with
// host memory standing for device memory. Stands in for what the host-side port provides
// (gpu::suffix, gpu::blocks, Launch::d, try_gemm without a vendor GEMM: the plans then take
// their matmul.cu fallback), so the plans' launches, strides and buffers are checked
// against the CPU kernels without a GPU (tests/kernels/test_cuda_lstm.py).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "gpu/blas.h"
#include "gpu/embedding.h"
#include "gpu/lstm.h"
#include "gpu/sigmoid.h"

namespace tc::gpu {
const char* suffix(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    default: return "bf16";
  }
}
int64_t blocks(int64_t n, int64_t per, int64_t cap) { return std::max<int64_t>(1, std::min((n + per - 1) / per, cap)); }
Launch& Launch::d(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  slots.push_back(u);
  return *this;
}
bool try_gemm(const GemmDesc&, int, uintptr_t) { return false; }
}  // namespace tc::gpu

namespace {

using namespace tc;
using EmuLaunch = int (*)(const char*, long long, long long, long long, long long, const uint64_t*, int);

struct EmuGpu : gpu::Gpu {
  EmuLaunch fn;
  int rc = 0;
  std::vector<std::unique_ptr<char[]>> held;
  explicit EmuGpu(EmuLaunch f) : fn(f) {}
  void launch(const gpu::Launch& l) override {
    int r = fn(l.kernel.c_str(), l.grid[0], l.grid[1], l.grid[2], l.block[0], l.slots.data(), int(l.slots.size()));
    if (r && !rc) rc = r;
  }
  void memset0(void* p, size_t n) override { std::memset(p, 0, n); }
  Tensor scratch(const Shape& shape, DType dtype) override {
    held.emplace_back(new char[size_t(shape.numel()) * dtype_size(dtype) + 64]);
    return view(held.back().get(), shape, dtype);
  }
  static Tensor view(void* p, const Shape& shape, DType dtype) {
    Tensor t;
    t.data = p, t.dtype = dtype, t.shape = shape;
    t.set_contiguous_strides();
    return t;
  }
};

Tensor T3(void* p, const int64_t* s, DType dt) { return EmuGpu::view(p, Shape{s[0], s[1], s[2]}, dt); }
Tensor T2(void* p, int64_t a, int64_t b, DType dt) { return EmuGpu::view(p, Shape{a, b}, dt); }
Tensor T1(void* p, int64_t a, DType dt) { return EmuGpu::view(p, Shape{a}, dt); }

}  // namespace

// xs: x's shape (3 dims). Null pointers: absent. f64 = 1 for double, else float.
extern "C" int plan_lstm(EmuLaunch fn, int f64, const int64_t* xs, int batch_first, int64_t H, void* x, void* w_ih,
                         void* w_hh, void* bias, void* h0, void* c0, void* y, void* hn, void* cn, void* ws) {
  const DType dt = f64 ? DType::f64 : DType::f32;
  const int64_t B = batch_first ? xs[0] : xs[1], I = xs[2];
  Tensor tx = T3(x, xs, dt), twi = T2(w_ih, 4 * H, I, dt), twh = T2(w_hh, 4 * H, H, dt), tb = T1(bias, 4 * H, dt);
  Tensor th0 = T2(h0, B, H, dt), tc0 = T2(c0, B, H, dt), thn = T2(hn, B, H, dt), tcn = T2(cn, B, H, dt);
  const int64_t ys[3] = {xs[0], xs[1], H}, wss[3] = {xs[0], xs[1], 6 * H};
  Tensor ty = T3(y, ys, dt), tws = T3(ws, wss, dt);
  cpu::LstmArgs a{&tx, &twi, &twh, bias ? &tb : nullptr, h0 ? &th0 : nullptr, c0 ? &tc0 : nullptr, batch_first != 0};
  EmuGpu g(fn);
  gpu::lstm(g, a, y ? &ty : nullptr, thn, tcn, tws);
  return g.rc;
}

extern "C" int plan_lstm_backward(EmuLaunch fn, int f64, const int64_t* xs, int batch_first, int64_t H, void* x,
                                  void* w_ih, void* w_hh, void* h0, void* c0, void* ws, void* dy, void* dhn, void* dcn,
                                  void* dx, void* dwih, void* dwhh, void* db, void* dh0, void* dc0) {
  const DType dt = f64 ? DType::f64 : DType::f32;
  const int64_t B = batch_first ? xs[0] : xs[1], I = xs[2];
  const int64_t ys[3] = {xs[0], xs[1], H}, wss[3] = {xs[0], xs[1], 6 * H};
  Tensor tx = T3(x, xs, dt), twi = T2(w_ih, 4 * H, I, dt), twh = T2(w_hh, 4 * H, H, dt);
  Tensor th0 = T2(h0, B, H, dt), tc0 = T2(c0, B, H, dt), tws = T3(ws, wss, dt), tdy = T3(dy, ys, dt);
  Tensor tdhn = T2(dhn, B, H, dt), tdcn = T2(dcn, B, H, dt), tdx = T3(dx, xs, dt), tdwi = T2(dwih, 4 * H, I, dt);
  Tensor tdwh = T2(dwhh, 4 * H, H, dt), tdb = T1(db, 4 * H, dt), tdh0 = T2(dh0, B, H, dt), tdc0 = T2(dc0, B, H, dt);
  cpu::LstmArgs a{&tx, &twi, &twh, nullptr, h0 ? &th0 : nullptr, c0 ? &tc0 : nullptr, batch_first != 0};
  cpu::LstmGrads out{&tdx, &tdwi, &tdwh, &tdb, dh0 ? &tdh0 : nullptr, dc0 ? &tdc0 : nullptr};
  EmuGpu g(fn);
  gpu::lstm_backward(g, a, tws, dy ? &tdy : nullptr, dhn ? &tdhn : nullptr, dcn ? &tdcn : nullptr, out);
  return g.rc;
}

extern "C" int plan_embedding(EmuLaunch fn, int f64, int ids64, int64_t n, int64_t V, int64_t D, void* ids, void* w,
                              void* out, void* g, void* dw, int64_t padding_idx) {
  const DType dt = f64 ? DType::f64 : DType::f32;
  Tensor tids = T1(ids, n, ids64 ? DType::i64 : DType::i32), tw = T2(w, V, D, dt), to = T2(out, n, D, dt);
  Tensor tg = T2(g, n, D, dt), tdw = T2(dw, V, D, dt);
  EmuGpu gpu_(fn);
  gpu::embedding(gpu_, tids, tw, to);
  gpu::embedding_backward(gpu_, tg, tids, padding_idx, tdw);
  return gpu_.rc;
}

extern "C" int plan_sigmoid(EmuLaunch fn, int f64, int64_t n, void* x, void* y, void* g, void* dx) {
  const DType dt = f64 ? DType::f64 : DType::f32;
  Tensor tx = T1(x, n, dt), ty = T1(y, n, dt), tg = T1(g, n, dt), tdx = T1(dx, n, dt);
  EmuGpu gpu_(fn);
  gpu::sigmoid(gpu_, tx, ty);
  gpu::sigmoid_backward(gpu_, tg, ty, tdx);
  return gpu_.rc;
}
