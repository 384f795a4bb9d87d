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

Shape seq_shape(const Tensor& x, int64_t last) { return Shape{x.size(0), x.size(1), last}; }

ffi::Error fwd(ffi::AnyBuffer x, ffi::AnyBuffer w_ih, ffi::AnyBuffer w_hh, ffi::RemainingArgs rest,
               ffi::RemainingRets rets, int64_t has_bias, int64_t has_h0, int64_t has_c0, int64_t batch_first,
               int64_t return_sequences) {
  return guard([&] {
    const char* op = "lstm";
    Tensor tx = view(x), tih = view(w_ih), thh = view(w_hh);
    Args args(rest, op);
    std::optional<Tensor> bias = args.next_if(has_bias, "bias"), h0 = args.next_if(has_h0, "h0"),
                          c0 = args.next_if(has_c0, "c0");
    cpu::LstmArgs a{&tx, &tih, &thh, ptr(bias), ptr(h0), ptr(c0), batch_first != 0};
    cpu::LstmDims d = cpu::lstm_check(a, op);
    Rets outs(rets, op);
    std::optional<Tensor> y = outs.next_if(return_sequences, "<y>");
    Tensor hn = outs.next("<h_n>"), cn = outs.next("<c_n>"), ws = outs.next("<ws>");
    if (y) check_shape(op, "<y>", *y, seq_shape(tx, d.H));
    check_shape(op, "<h_n>", hn, Shape{d.B, d.H});
    check_shape(op, "<c_n>", cn, Shape{d.B, d.H});
    check_shape(op, "<ws>", ws, seq_shape(tx, 6 * d.H));
    // The workspace has x's dtype (as in the bindings): with halves it is rounded too.
    run({&tx, &tih, &thh, ptr(bias), ptr(h0), ptr(c0)}, {ptr(y), &hn, &cn, &ws},
        [&] { cpu::lstm(a, ptr(y), hn, cn, ws); });
  });
}

ffi::Error bwd(ffi::AnyBuffer x, ffi::AnyBuffer w_ih, ffi::AnyBuffer w_hh, ffi::AnyBuffer ws, ffi::AnyBuffer dhn,
               ffi::AnyBuffer dcn, ffi::RemainingArgs rest, ffi::Result<ffi::AnyBuffer> dx,
               ffi::Result<ffi::AnyBuffer> dwih, ffi::Result<ffi::AnyBuffer> dwhh, ffi::RemainingRets rets,
               int64_t has_bias, int64_t has_h0, int64_t has_c0, int64_t batch_first, int64_t return_sequences) {
  return guard([&] {
    const char* op = "lstm_backward";
    Tensor tx = view(x), tih = view(w_ih), thh = view(w_hh), tws = view(ws), tdhn = view(dhn), tdcn = view(dcn);
    Args args(rest, op);
    std::optional<Tensor> dy = args.next_if(return_sequences, "grad_y"), h0 = args.next_if(has_h0, "h0"),
                          c0 = args.next_if(has_c0, "c0");
    cpu::LstmArgs a{&tx, &tih, &thh, nullptr, ptr(h0), ptr(c0), batch_first != 0};
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
    Rets outs(rets, op);
    std::optional<Tensor> db = outs.next_if(has_bias, "<dbias>"), dh0 = outs.next_if(has_h0, "<dh0>"),
                          dc0 = outs.next_if(has_c0, "<dc0>");
    if (db) check_shape(op, "<dbias>", *db, Shape{4 * d.H});
    if (dh0) check_shape(op, "<dh0>", *dh0, bh);
    if (dc0) check_shape(op, "<dc0>", *dc0, bh);
    cpu::LstmGrads g{&tdx, &tdih, &tdhh, ptr(db), ptr(dh0), ptr(dc0)};
    run({&tx, &tih, &thh, ptr(h0), ptr(c0), &tws, ptr(dy), &tdhn, &tdcn},
        {&tdx, &tdih, &tdhh, ptr(db), ptr(dh0), ptr(dc0)},
        [&] { cpu::lstm_backward(a, tws, ptr(dy), &tdhn, &tdcn, g); });
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

// (x, w_ih, w_hh, bias/h0/c0 or None each, batch_first, return_sequences)
// -> out [y (with return_sequences), h_n, c_n, ws], attrs: the flags above.
pyb::dict plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle ih_shape, pyb::handle ih_dtype,
               pyb::handle hh_shape, pyb::handle hh_dtype, pyb::handle b_shape, pyb::handle b_dtype,
               pyb::handle h0_shape, pyb::handle h0_dtype, pyb::handle c0_shape, pyb::handle c0_dtype,
               bool batch_first, bool return_sequences) {
  const char* op = "lstm";
  Abstract x = abstract(x_shape, x_dtype, op, "x"), w_ih = abstract(ih_shape, ih_dtype, op, "w_ih"),
           w_hh = abstract(hh_shape, hh_dtype, op, "w_hh");
  auto bias = optional_abstract(b_shape, b_dtype, op, "bias"), h0 = optional_abstract(h0_shape, h0_dtype, op, "h0"),
       c0 = optional_abstract(c0_shape, c0_dtype, op, "c0");
  cpu::LstmArgs a{&x.t, &w_ih.t, &w_hh.t, ptr(bias), ptr(h0), ptr(c0), batch_first};
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
