// lstm under JAX: a whole single-layer sequence in one crossing each way (cpu/lstm.h's
// layout: w_ih [4H, I], w_hh [4H, H], gates i, f, g, o; x time major or batch first).
// Rules: cpu::lstm_check (every shape and dtype); kernels: cpu::lstm, cpu::lstm_backward.
// The forward also returns the kernel's workspace (activated gates, c_t, h_{t-1} per row),
// which the backward reads; JAX keeps it as the custom_vjp residual.
// Optional arrays travel as remaining args / rets, their presence as attributes:
//   forward  args x, w_ih, w_hh [, bias][, h0][, c0]  -> rets [y,] h_n, c_n, ws
//   backward args x, w_ih, w_hh, ws, dh_n, dc_n [, dy][, h0][, c0]
//            -> rets dx, dw_ih, dw_hh [, dbias][, dh0][, dc0]
#include "cpu/lstm.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

struct Flags {
  bool bias, h0, c0, batch_first, seq;
};

Tensor arg_at(ffi::RemainingArgs& rest, size_t& i, const char* op, const char* name) {
  if (rest.size() <= i) value_error(op, name, "missing array");
  auto b = rest.get<ffi::AnyBuffer>(i++);
  if (!b.has_value()) value_error(op, name, "not an array");
  return view(*b);
}

Tensor ret_at(ffi::RemainingRets& rest, size_t& i, const char* op, const char* name) {
  if (rest.size() <= i) value_error(op, name, "missing result buffer");
  auto b = rest.get<ffi::AnyBuffer>(i++);
  if (!b.has_value()) value_error(op, name, "bad result buffer");
  return view(*b);
}

Shape seq_shape(const Tensor& x, int64_t last) { return Shape{x.size(0), x.size(1), last}; }

ffi::Error fwd(ffi::AnyBuffer x, ffi::AnyBuffer w_ih, ffi::AnyBuffer w_hh, ffi::RemainingArgs rest,
               ffi::RemainingRets rets, int64_t has_bias, int64_t has_h0, int64_t has_c0, int64_t batch_first,
               int64_t return_sequences) {
  return guard([&] {
    const char* op = "lstm";
    Tensor tx = view(x), tih = view(w_ih), thh = view(w_hh);
    size_t i = 0, r = 0;
    std::optional<Tensor> bias, h0, c0;
    if (has_bias) bias = arg_at(rest, i, op, "bias");
    if (has_h0) h0 = arg_at(rest, i, op, "h0");
    if (has_c0) c0 = arg_at(rest, i, op, "c0");
    cpu::LstmArgs a{&tx, &tih, &thh, bias ? &*bias : nullptr, h0 ? &*h0 : nullptr, c0 ? &*c0 : nullptr,
                    batch_first != 0};
    cpu::LstmDims d = cpu::lstm_check(a, op);
    std::optional<Tensor> y;
    if (return_sequences) y = ret_at(rets, r, op, "<y>");
    Tensor hn = ret_at(rets, r, op, "<h_n>"), cn = ret_at(rets, r, op, "<c_n>"), ws = ret_at(rets, r, op, "<ws>");
    if (y) check_shape(op, "<y>", *y, seq_shape(tx, d.H));
    check_shape(op, "<h_n>", hn, Shape{d.B, d.H});
    check_shape(op, "<c_n>", cn, Shape{d.B, d.H});
    check_shape(op, "<ws>", ws, seq_shape(tx, 6 * d.H));
    // The workspace has x's dtype (as in the bindings): with halves it is rounded too.
    run({&tx, &tih, &thh, bias ? &*bias : nullptr, h0 ? &*h0 : nullptr, c0 ? &*c0 : nullptr},
        {y ? &*y : nullptr, &hn, &cn, &ws}, [&] { cpu::lstm(a, y ? &*y : nullptr, hn, cn, ws); });
  });
}

ffi::Error bwd(ffi::AnyBuffer x, ffi::AnyBuffer w_ih, ffi::AnyBuffer w_hh, ffi::AnyBuffer ws, ffi::AnyBuffer dhn,
               ffi::AnyBuffer dcn, ffi::RemainingArgs rest, ffi::Result<ffi::AnyBuffer> dx,
               ffi::Result<ffi::AnyBuffer> dwih, ffi::Result<ffi::AnyBuffer> dwhh, ffi::RemainingRets rets,
               int64_t has_bias, int64_t has_h0, int64_t has_c0, int64_t batch_first, int64_t return_sequences) {
  return guard([&] {
    const char* op = "lstm_backward";
    Tensor tx = view(x), tih = view(w_ih), thh = view(w_hh), tws = view(ws), tdhn = view(dhn), tdcn = view(dcn);
    size_t i = 0, r = 0;
    std::optional<Tensor> dy, h0, c0;
    if (return_sequences) dy = arg_at(rest, i, op, "grad_y");
    if (has_h0) h0 = arg_at(rest, i, op, "h0");
    if (has_c0) c0 = arg_at(rest, i, op, "c0");
    cpu::LstmArgs a{&tx, &tih, &thh, nullptr, h0 ? &*h0 : nullptr, c0 ? &*c0 : nullptr, batch_first != 0};
    cpu::LstmDims d = cpu::lstm_check(a, op);
    const Shape bh{d.B, d.H};
    check_input_like(op, "workspace", tws, tx);
    check_shape(op, "workspace", tws, seq_shape(tx, 6 * d.H));
    if (dy) {
      check_input_like(op, "grad_y", *dy, tx);
      check_shape(op, "grad_y", *dy, seq_shape(tx, d.H));
    }
    check_input_like(op, "grad_h_n", tdhn, tx);
    check_shape(op, "grad_h_n", tdhn, bh);
    check_input_like(op, "grad_c_n", tdcn, tx);
    check_shape(op, "grad_c_n", tdcn, bh);
    Tensor tdx = view(dx), tdih = view(dwih), tdhh = view(dwhh);
    check_shape(op, "<dx>", tdx, tx.shape);
    check_shape(op, "<dw_ih>", tdih, tih.shape);
    check_shape(op, "<dw_hh>", tdhh, thh.shape);
    std::optional<Tensor> db, dh0, dc0;
    if (has_bias) db = ret_at(rets, r, op, "<dbias>");
    if (has_h0) dh0 = ret_at(rets, r, op, "<dh0>");
    if (has_c0) dc0 = ret_at(rets, r, op, "<dc0>");
    if (db) check_shape(op, "<dbias>", *db, Shape{4 * d.H});
    if (dh0) check_shape(op, "<dh0>", *dh0, bh);
    if (dc0) check_shape(op, "<dc0>", *dc0, bh);
    cpu::LstmGrads g{&tdx, &tdih, &tdhh, db ? &*db : nullptr, dh0 ? &*dh0 : nullptr, dc0 ? &*dc0 : nullptr};
    run({&tx, &tih, &thh, h0 ? &*h0 : nullptr, c0 ? &*c0 : nullptr, &tws, dy ? &*dy : nullptr, &tdhn, &tdcn},
        {&tdx, &tdih, &tdhh, db ? &*db : nullptr, dh0 ? &*dh0 : nullptr, dc0 ? &*dc0 : nullptr},
        [&] { cpu::lstm_backward(a, tws, dy ? &*dy : nullptr, &tdhn, &tdcn, g); });
  });
}

#define TC_LSTM_ATTRS                                                                          \
  .Attr<int64_t>("has_bias").Attr<int64_t>("has_h0").Attr<int64_t>("has_c0").Attr<int64_t>("batch_first") \
      .Attr<int64_t>("return_sequences")

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .RemainingRets() TC_LSTM_ATTRS);
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .RemainingRets() TC_LSTM_ATTRS);
TC_JAX_HANDLER("twincore_lstm", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_lstm_backward", "cpu", bwd_cpu);

std::optional<Abstract> maybe(pyb::handle shape, pyb::handle dtype, const char* op, const char* arg) {
  if (shape.is_none()) return std::nullopt;
  return abstract(shape, dtype, op, arg);
}

// (x, w_ih, w_hh, bias/h0/c0 or None each, batch_first, return_sequences)
// -> out [y (with return_sequences), h_n, c_n, ws], attrs: the flags above.
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle ih_shape, pyb::handle ih_dtype,
               pyb::handle hh_shape, pyb::handle hh_dtype, pyb::handle b_shape, pyb::handle b_dtype,
               pyb::handle h0_shape, pyb::handle h0_dtype, pyb::handle c0_shape, pyb::handle c0_dtype,
               bool batch_first, bool return_sequences) {
  const char* op = "lstm";
  Abstract x = abstract(x_shape, x_dtype, op, "x"), w_ih = abstract(ih_shape, ih_dtype, op, "w_ih"),
           w_hh = abstract(hh_shape, hh_dtype, op, "w_hh");
  auto bias = maybe(b_shape, b_dtype, op, "bias"), h0 = maybe(h0_shape, h0_dtype, op, "h0"),
       c0 = maybe(c0_shape, c0_dtype, op, "c0");
  cpu::LstmArgs a{&x.t, &w_ih.t, &w_hh.t, bias ? &bias->t : nullptr, h0 ? &h0->t : nullptr,
                  c0 ? &c0->t : nullptr, batch_first};
  cpu::LstmDims d = cpu::lstm_check(a, op);
  const DType dt = x.t.dtype;
  Plan p;
  if (return_sequences) p.output(seq_shape(x.t, d.H), dt);
  p.output(Shape{d.B, d.H}, dt);
  p.output(Shape{d.B, d.H}, dt);
  p.output(seq_shape(x.t, 6 * d.H), dt);
  p.attr("has_bias", bias.has_value());
  p.attr("has_h0", h0.has_value());
  p.attr("has_c0", c0.has_value());
  p.attr("batch_first", batch_first);
  p.attr("return_sequences", return_sequences);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_lstm) { m.def("jax_lstm_plan", &tc::jax::plan); }
