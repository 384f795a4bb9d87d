#include "cpu/lstm.h"

#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "cpu/activations.h"
#include "cpu/panel_gemm.h"
#include "gpu/lstm.h"
#include "python/bridge.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

using act::sigmoid_of;
using act::tanh_of;

// Row (t, b) of x, y, ws and the gate gradients lives at t * st + b * sb.
struct Rows {
  int64_t st, sb;
  int64_t at(int64_t t, int64_t b) const { return t * st + b * sb; }
};
Rows rows_of(const LstmDims& d, bool batch_first) { return batch_first ? Rows{1, d.T} : Rows{d.B, 1}; }

// One step's fused gate math for batch rows [b0, b1): gates (pre-activation in ws) ->
// activated in place, c_t into ws, h_t into the next step's h_{t-1} slot (or h_n), y.
template <typename T>
struct FwdStep {
  T* ws;
  const T* c0;     // [B, H] or the zeros row
  bool c0_rows;    // c0 has a row per batch entry (else it is the zeros row)
  T* y;            // or null
  T* hn;
  T* cn;
  int64_t steps, H, t;
  Rows r;
};

// The gate math of one (t, b) row over its H units; spans are disjoint.
template <typename T>
TC_INLINE void cell_fwd(T* __restrict gi, T* __restrict gf, T* __restrict gg, T* __restrict go,
                        const T* __restrict cp, T* __restrict c, T* __restrict h, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    T i = sigmoid_of(gi[j]), f = sigmoid_of(gf[j]), u = tanh_of(gg[j]), o = sigmoid_of(go[j]);
    T cv = f * cp[j] + i * u;
    gi[j] = i, gf[j] = f, gg[j] = u, go[j] = o;
    c[j] = cv;
    h[j] = o * tanh_of(cv);
  }
}

template <typename T>
TC_INLINE void fwd_rows(const FwdStep<T>& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H, W = 6 * H, t = a.t;
  for (int64_t b = b0; b < b1; ++b) {
    T* g = a.ws + a.r.at(t, b) * W;
    const T* cp = t > 0 ? a.ws + a.r.at(t - 1, b) * W + 4 * H : a.c0 + (a.c0_rows ? b * H : 0);
    T* c = g + 4 * H;
    T* h = t + 1 < a.steps ? a.ws + a.r.at(t + 1, b) * W + 5 * H : a.hn + b * H;
    cell_fwd(g, g + H, g + 2 * H, g + 3 * H, cp, c, h, H);
    if (a.y) std::memcpy(a.y + a.r.at(t, b) * H, h, sizeof(T) * H);
    if (t + 1 == a.steps) std::memcpy(a.cn + b * H, c, sizeof(T) * H);
  }
}

// One step backward for batch rows [b0, b1): from dh (carried + dy_t) and dc (carried), the
// gate gradients dG_t (pre-activation) and the carried dc_{t-1}.
template <typename T>
struct BwdStep {
  const T* ws;
  const T* c0;
  bool c0_rows;
  const T* dy;     // [rows, H] or null
  const T* zeros;  // H zeros
  T* dg;           // [rows, 4H]
  T* dh;           // [B, H]
  T* dc;           // [B, H]
  int64_t H, t;
  Rows r;
};

template <typename T>
TC_INLINE void cell_bwd(const T* __restrict g, const T* __restrict c, const T* __restrict cp,
                        const T* __restrict dyr, T* __restrict d, T* __restrict dh, T* __restrict dc, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    T i = g[j], f = g[H + j], u = g[2 * H + j], o = g[3 * H + j];
    T tc = tanh_of(c[j]);
    T dhv = dh[j] + dyr[j];
    T dcv = dc[j] + dhv * o * (T(1) - tc * tc);
    d[j] = dcv * u * i * (T(1) - i);
    d[H + j] = dcv * cp[j] * f * (T(1) - f);
    d[2 * H + j] = dcv * i * (T(1) - u * u);
    d[3 * H + j] = dhv * tc * o * (T(1) - o);
    dc[j] = dcv * f;
  }
}

template <typename T>
TC_INLINE void bwd_rows(const BwdStep<T>& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H, W = 6 * H, t = a.t;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t row = a.r.at(t, b);
    const T* g = a.ws + row * W;
    const T* cp = t > 0 ? a.ws + a.r.at(t - 1, b) * W + 4 * H : a.c0 + (a.c0_rows ? b * H : 0);
    cell_bwd(g, g + 4 * H, cp, a.dy ? a.dy + row * H : a.zeros, a.dg + row * 4 * H, a.dh + b * H, a.dc + b * H, H);
  }
}

TC_ISA_FN(fwd_f32, (const FwdStep<float>& a, int64_t b0, int64_t b1), (a, b0, b1), { fwd_rows(a, b0, b1); })
TC_ISA_FN(fwd_f64, (const FwdStep<double>& a, int64_t b0, int64_t b1), (a, b0, b1), { fwd_rows(a, b0, b1); })
TC_ISA_FN(bwd_f32, (const BwdStep<float>& a, int64_t b0, int64_t b1), (a, b0, b1), { bwd_rows(a, b0, b1); })
TC_ISA_FN(bwd_f64, (const BwdStep<double>& a, int64_t b0, int64_t b1), (a, b0, b1), { bwd_rows(a, b0, b1); })
inline void step(const FwdStep<float>& a, int64_t b0, int64_t b1) { fwd_f32(a, b0, b1); }
inline void step(const FwdStep<double>& a, int64_t b0, int64_t b1) { fwd_f64(a, b0, b1); }
inline void step(const BwdStep<float>& a, int64_t b0, int64_t b1) { bwd_f32(a, b0, b1); }
inline void step(const BwdStep<double>& a, int64_t b0, int64_t b1) { bwd_f64(a, b0, b1); }

// db[j] = sum over q of d[q*ld + j] for j in [j0, j1), q in order.
template <typename T>
TC_INLINE void col_sums_rows(const T* __restrict d, int64_t rows, int64_t ld, int64_t j0, int64_t j1, T* __restrict db) {
  for (int64_t j = j0; j < j1; ++j) db[j] = T(0);
  for (int64_t q = 0; q < rows; ++q) {
    const T* __restrict r = d + q * ld;
    for (int64_t j = j0; j < j1; ++j) db[j] += r[j];
  }
}
TC_ISA_FN(col_sums_f32, (const float* d, int64_t rows, int64_t ld, int64_t j0, int64_t j1, float* db),
          (d, rows, ld, j0, j1, db), { col_sums_rows(d, rows, ld, j0, j1, db); })
TC_ISA_FN(col_sums_f64, (const double* d, int64_t rows, int64_t ld, int64_t j0, int64_t j1, double* db),
          (d, rows, ld, j0, j1, db), { col_sums_rows(d, rows, ld, j0, j1, db); })
inline void col_sums(const float* d, int64_t rows, int64_t ld, int64_t j0, int64_t j1, float* db) {
  col_sums_f32(d, rows, ld, j0, j1, db);
}
inline void col_sums(const double* d, int64_t rows, int64_t ld, int64_t j0, int64_t j1, double* db) {
  col_sums_f64(d, rows, ld, j0, j1, db);
}

// fn(b0, b1) over [0, n) in blocks of `block` rows (b0 a multiple of block), shared out on the
// pool a few blocks at a time: on a busy machine a thread that is descheduled holds up a step
// only for its current block, as the others take the rest. A row's result does not depend on
// the blocking.
template <typename F>
void for_row_blocks(int64_t n, int64_t block, F&& fn) {
  parallel_for((n + block - 1) / block, 1, [&](int64_t c0, int64_t c1) { fn(c0 * block, std::min(n, c1 * block)); });
}
// Batch rows per block of a step (GEMM rows + gate math): two 8-row micro-tiles.
constexpr int64_t kStepRows = 16;
// Rows per block of the whole-sequence GEMMs (input projection, dx).
constexpr int64_t kSeqRows = 64;

LstmDims dims(const LstmArgs& a) {
  const Tensor& x = *a.x;
  int64_t H = a.w_hh->size(1);
  return a.batch_first ? LstmDims{x.size(1), x.size(0), x.size(2), H} : LstmDims{x.size(0), x.size(1), x.size(2), H};
}

template <typename T>
void forward_t(const LstmArgs& a, const Tensor* y, const Tensor& h_n, const Tensor& c_n, const Tensor& ws_t) {
  const LstmDims d = dims(a);
  const int64_t B = d.B, H = d.H, G = 4 * H, W = 6 * H, rows = d.T * d.B;
  const Rows r = rows_of(d, a.batch_first);
  T* ws = ws_t.ptr<T>();
  const T* wih = a.w_ih->ptr<T>();
  const T* whh = a.w_hh->ptr<T>();
  // (1) every step's input projection bias + x @ w_ih^T, all T*B rows at once (w_ih^T and the
  // bias packed once, x's rows read in place), blocks of rows in parallel.
  {
    const PackedPanels<T> wih_t = pack_panels(true, d.I, G, wih, d.I, a.bias ? a.bias->ptr<T>() : nullptr);
    const T* x = a.x->ptr<T>();
    for_row_blocks(rows, kSeqRows, [&](int64_t q0, int64_t q1) {
      gemm_panels(q1 - q0, x + q0 * d.I, d.I, wih_t, false, ws + q0 * W, W);
    });
  }
  // h_{-1}: h0 or zeros in the t = 0 rows.
  for (int64_t b = 0; b < B; ++b) {
    T* hp = ws + r.at(0, b) * W + 5 * H;
    if (a.h0) std::memcpy(hp, a.h0->ptr<T>() + b * H, sizeof(T) * H);
    else std::fill(hp, hp + H, T(0));
  }
  std::vector<T> zeros(a.c0 ? 0 : H, T(0));
  FwdStep<T> s{ws, a.c0 ? a.c0->ptr<T>() : zeros.data(), a.c0 != nullptr, y ? y->ptr<T>() : nullptr,
               h_n.ptr<T>(), c_n.ptr<T>(), d.T, H, 0, r};
  // One parallel region per step: the threads take 16-row blocks of the batch and run (2) the
  // recurrent GEMM for a block's rows (single-threaded inside the region), then their gate math
  // while the rows are in cache. A row's result does not depend on the blocking.
  // w_hh^T [H, 4H] packed once for all steps; each step reads its h_{t-1} rows in place.
  const PackedPanels<T> whh_t = pack_panels(true, H, G, whh, H);
  for (int64_t t = 0; t < d.T; ++t) {
    T* g = ws + r.at(t, 0) * W;
    s.t = t;
    for_row_blocks(B, kStepRows, [&](int64_t b0, int64_t b1) {
      T* gb = g + b0 * r.sb * W;
      if (t > 0 || a.h0) gemm_panels(b1 - b0, gb + 5 * H, r.sb * W, whh_t, true, gb, r.sb * W);
      step(s, b0, b1);
    });
  }
}

template <typename T>
void backward_t(const LstmArgs& a, const Tensor& ws_t, const Tensor* dy, const Tensor* dh_n, const Tensor* dc_n,
                const LstmGrads& out) {
  const LstmDims d = dims(a);
  const int64_t B = d.B, H = d.H, I = d.I, G = 4 * H, W = 6 * H, rows = d.T * d.B;
  const Rows r = rows_of(d, a.batch_first);
  const T* ws = ws_t.ptr<T>();
  const T* whh = a.w_hh->ptr<T>();
  std::unique_ptr<T[]> dg(new T[rows * G]);
  std::vector<T> dh(B * H, T(0)), dc(B * H, T(0)), zeros(H, T(0));
  if (dh_n) std::memcpy(dh.data(), dh_n->ptr<T>(), sizeof(T) * B * H);
  if (dc_n) std::memcpy(dc.data(), dc_n->ptr<T>(), sizeof(T) * B * H);
  BwdStep<T> s{ws, a.c0 ? a.c0->ptr<T>() : zeros.data(), a.c0 != nullptr, dy ? dy->ptr<T>() : nullptr,
               zeros.data(), dg.get(), dh.data(), dc.data(), H, 0, r};
  const PackedPanels<T> whh_p = pack_panels(false, G, H, whh, H);  // w_hh [4H, H], packed once
  for (int64_t t = d.T - 1; t >= 0; --t) {
    s.t = t;
    // dh_{t-1} = dG_t @ w_hh (into dh0 at t = 0, if wanted), per block of batch rows right
    // after their gate gradients: one parallel region per step. Each block reads only its
    // own rows of dh before overwriting them.
    T* dst = t > 0 ? dh.data() : (out.dh0 ? out.dh0->ptr<T>() : nullptr);
    for_row_blocks(B, kStepRows, [&](int64_t b0, int64_t b1) {
      step(s, b0, b1);
      if (dst)
        gemm_panels(b1 - b0, dg.get() + (r.at(t, 0) + b0 * r.sb) * G, r.sb * G, whh_p, false, dst + b0 * H, H);
    });
  }
  if (out.dc0) std::memcpy(out.dc0->ptr<T>(), dc.data(), sizeof(T) * B * H);
  // Over all steps at once: dx = dG @ w_ih (w_ih packed once, blocks of rows in parallel),
  // dw_ih = dG^T @ x and dw_hh = dG^T @ h_{t-1} as ONE GEMM with K = T*B (one pass over dG for
  // both; x and the h_{t-1} slots of ws packed in K slices).
  if (out.dx) {
    const PackedPanels<T> wih = pack_panels(false, G, I, a.w_ih->ptr<T>(), I);
    T* dx = out.dx->ptr<T>();
    for_row_blocks(rows, kSeqRows, [&](int64_t q0, int64_t q1) {
      gemm_panels(q1 - q0, dg.get() + q0 * G, G, wih, false, dx + q0 * I, I);
    });
  }
  {
    TnPart<T> parts[2];
    int n = 0;
    if (out.dw_ih) parts[n++] = {I, a.x->ptr<T>(), I, out.dw_ih->ptr<T>(), I};
    if (out.dw_hh) parts[n++] = {H, ws + 5 * H, W, out.dw_hh->ptr<T>(), H};
    if (n) gemm_tn(G, rows, dg.get(), G, parts[0], parts[1]);
  }
  if (out.dbias) {
    // Column sums, rows in order whatever the split: deterministic.
    T* db = out.dbias->ptr<T>();
    const T* dgp = dg.get();
    parallel_for(G, 64, [&](int64_t j0, int64_t j1) { col_sums(dgp, rows, G, j0, j1, db); });
  }
}

}  // namespace

LstmDims lstm_check(const LstmArgs& a, const char* op) {
  const Tensor& x = *a.x;
  check_input(op, "x", x);
  check_rank(op, "x", x, 3, 3);
  check_input_like(op, "w_ih", *a.w_ih, x);
  check_rank(op, "w_ih", *a.w_ih, 2, 2);
  const int64_t G = a.w_ih->size(0), I = x.size(2);
  if (G % 4 != 0)
    value_error(op, "w_ih", "expected [4*hidden, input] (gates i, f, g, o), got first dim ", G, " (not a multiple of 4)");
  if (a.w_ih->size(1) != I)
    value_error(op, "w_ih", "expected [4*hidden, ", I, "] for x's input size ", I, ", got ", a.w_ih->shape.str());
  const int64_t H = G / 4;
  check_input_like(op, "w_hh", *a.w_hh, x);
  check_shape(op, "w_hh", *a.w_hh, Shape{G, H});
  if (a.bias) {
    check_input_like(op, "bias", *a.bias, x);
    check_shape(op, "bias", *a.bias, Shape{G});
  }
  LstmDims d = dims(a);
  if (a.h0) {
    check_input_like(op, "h0", *a.h0, x);
    check_shape(op, "h0", *a.h0, Shape{d.B, H});
  }
  if (a.c0) {
    check_input_like(op, "c0", *a.c0, x);
    check_shape(op, "c0", *a.c0, Shape{d.B, H});
  }
  return d;
}

void lstm(const LstmArgs& a, const Tensor* y, const Tensor& h_n, const Tensor& c_n, const Tensor& ws) {
  TC_FLOAT_TYPES("lstm", a.x->dtype, T, forward_t<T>(a, y, h_n, c_n, ws));
}

void lstm_backward(const LstmArgs& a, const Tensor& ws, const Tensor* dy, const Tensor* dh_n, const Tensor* dc_n,
                   const LstmGrads& g) {
  TC_FLOAT_TYPES("lstm_backward", a.x->dtype, T, backward_t<T>(a, ws, dy, dh_n, dc_n, g));
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;
using Opt = std::optional<py::Arg>;

// The arguments both bindings share, read and validated.
struct Read {
  py::Arg x, w_ih, w_hh;
  Opt bias, h0, c0;
  cpu::LstmArgs args;
  cpu::LstmDims d{};
};

// Filled in place: r.args points into r.
void read(Read& r, const char* op, pyb::handle x, pyb::handle w_ih, pyb::handle w_hh, pyb::handle bias,
          pyb::handle h0, pyb::handle c0, bool batch_first, pyb::handle allocator) {
  r.x = py::arg(x, op, "x");
  py::device_ready(allocator, r.x.t, op, "x");
  r.w_ih = py::arg(w_ih, op, "w_ih");
  r.w_hh = py::arg(w_hh, op, "w_hh");
  r.bias = py::optional_arg(bias, op, "bias");
  r.h0 = py::optional_arg(h0, op, "h0");
  r.c0 = py::optional_arg(c0, op, "c0");
  r.args = {&r.x.t, &r.w_ih.t, &r.w_hh.t, r.bias ? &r.bias->t : nullptr, r.h0 ? &r.h0->t : nullptr,
            r.c0 ? &r.c0->t : nullptr, batch_first};
  r.d = cpu::lstm_check(r.args, op);
}

Shape seq_shape(const Read& r, int64_t last) { return Shape{r.x.t.size(0), r.x.t.size(1), last}; }

pyb::tuple lstm_py(pyb::handle x, pyb::handle w_ih, pyb::handle w_hh, pyb::handle bias, pyb::handle h0,
                   pyb::handle c0, bool batch_first, bool return_sequences, pyb::handle allocator) {
  const char* op = "lstm";
  Read r;
  read(r, op, x, w_ih, w_hh, bias, h0, c0, batch_first, allocator);
  const DType dt = r.x.t.dtype;
  pyb::object y_obj = pyb::none();
  Tensor y;
  if (return_sequences) {
    auto o = py::alloc(allocator, seq_shape(r, r.d.H), dt, op);
    y_obj = o.obj, y = o.t;
  }
  auto hn = py::alloc(allocator, Shape{r.d.B, r.d.H}, dt, op);
  auto cn = py::alloc(allocator, Shape{r.d.B, r.d.H}, dt, op);
  // The workspace (gates and cells saved for the backward) has x's dtype on every device (the
  // GPU kernels write it in that dtype, and the Meta/fake shapes must match): halves round it.
  auto ws = py::alloc(allocator, seq_shape(r, 6 * r.d.H), dt, op);
  py::run(allocator, r.x.t, op, "x",
          {&r.x.t, &r.w_ih.t, &r.w_hh.t, r.bias ? &r.bias->t : nullptr, r.h0 ? &r.h0->t : nullptr,
           r.c0 ? &r.c0->t : nullptr},
          {return_sequences ? &y : nullptr, &hn.t, &cn.t, &ws.t}, [&] { cpu::lstm(r.args, return_sequences ? &y : nullptr, hn.t, cn.t, ws.t); },
          [&](gpu::Gpu& g) { gpu::lstm(g, r.args, return_sequences ? &y : nullptr, hn.t, cn.t, ws.t); });
  return pyb::make_tuple(y_obj, hn.obj, cn.obj, ws.obj);
}

pyb::tuple lstm_backward_py(pyb::handle dy_obj, pyb::handle dhn_obj, pyb::handle dcn_obj, pyb::handle x,
                            pyb::handle w_ih, pyb::handle w_hh, pyb::handle h0, pyb::handle c0, pyb::handle ws_obj,
                            bool batch_first, bool need_bias, pyb::handle allocator) {
  const char* op = "lstm_backward";
  Read r;
  read(r, op, x, w_ih, w_hh, pyb::none(), h0, c0, batch_first, allocator);
  const int64_t B = r.d.B, H = r.d.H;
  auto ws = py::arg(ws_obj, op, "workspace");
  check_input_like(op, "workspace", ws.t, r.x.t);
  check_shape(op, "workspace", ws.t, seq_shape(r, 6 * H));
  auto dy = py::optional_arg(dy_obj, op, "grad_y");
  auto dhn = py::optional_arg(dhn_obj, op, "grad_h_n");
  auto dcn = py::optional_arg(dcn_obj, op, "grad_c_n");
  if (dy) {
    check_input_like(op, "grad_y", dy->t, r.x.t);
    check_shape(op, "grad_y", dy->t, seq_shape(r, H));
  }
  if (dhn) {
    check_input_like(op, "grad_h_n", dhn->t, r.x.t);
    check_shape(op, "grad_h_n", dhn->t, Shape{B, H});
  }
  if (dcn) {
    check_input_like(op, "grad_c_n", dcn->t, r.x.t);
    check_shape(op, "grad_c_n", dcn->t, Shape{B, H});
  }
  const DType dt = r.x.t.dtype;
  auto dx = py::alloc(allocator, r.x.t.shape, dt, op);
  auto dwih = py::alloc(allocator, r.w_ih.t.shape, dt, op);
  auto dwhh = py::alloc(allocator, r.w_hh.t.shape, dt, op);
  pyb::object none = pyb::none(), db_obj = none, dh0_obj = none, dc0_obj = none;
  Tensor db, dh0, dc0;
  if (need_bias) {
    auto o = py::alloc(allocator, Shape{4 * H}, dt, op);
    db_obj = o.obj, db = o.t;
  }
  if (r.h0) {
    auto o = py::alloc(allocator, Shape{B, H}, dt, op);
    dh0_obj = o.obj, dh0 = o.t;
  }
  if (r.c0) {
    auto o = py::alloc(allocator, Shape{B, H}, dt, op);
    dc0_obj = o.obj, dc0 = o.t;
  }
  cpu::LstmGrads g{&dx.t, &dwih.t, &dwhh.t, need_bias ? &db : nullptr, r.h0 ? &dh0 : nullptr, r.c0 ? &dc0 : nullptr};
  py::run(allocator, r.x.t, op, "x",
          {&r.x.t, &r.w_ih.t, &r.w_hh.t, r.h0 ? &r.h0->t : nullptr, r.c0 ? &r.c0->t : nullptr, &ws.t,
           dy ? &dy->t : nullptr, dhn ? &dhn->t : nullptr, dcn ? &dcn->t : nullptr},
          {&dx.t, &dwih.t, &dwhh.t, need_bias ? &db : nullptr, r.h0 ? &dh0 : nullptr, r.c0 ? &dc0 : nullptr},
          [&] { cpu::lstm_backward(r.args, ws.t, dy ? &dy->t : nullptr, dhn ? &dhn->t : nullptr,
                                   dcn ? &dcn->t : nullptr, g); },
          [&](gpu::Gpu& gp) { gpu::lstm_backward(gp, r.args, ws.t, dy ? &dy->t : nullptr, dhn ? &dhn->t : nullptr,
                                                 dcn ? &dcn->t : nullptr, g); });
  return pyb::make_tuple(dx.obj, dwih.obj, dwhh.obj, db_obj, dh0_obj, dc0_obj);
}

}  // namespace

TC_BIND(lstm) {
  m.def("lstm", &lstm_py, pyb::arg("x"), pyb::arg("w_ih"), pyb::arg("w_hh"), pyb::arg("bias"), pyb::arg("h0"),
        pyb::arg("c0"), pyb::arg("batch_first"), pyb::arg("return_sequences"), pyb::arg("alloc"));
  m.def("lstm_backward", &lstm_backward_py, pyb::arg("grad_y"), pyb::arg("grad_h_n"), pyb::arg("grad_c_n"),
        pyb::arg("x"), pyb::arg("w_ih"), pyb::arg("w_hh"), pyb::arg("h0"), pyb::arg("c0"), pyb::arg("workspace"),
        pyb::arg("batch_first"), pyb::arg("need_bias"), pyb::arg("alloc"));
}
