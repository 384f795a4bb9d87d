// lstm on the tape (cpp/cpu/lstm.h): the node keeps the inputs and the forward's workspace
// (activated gates, c_t, h_{t-1} of every step), which is all backward through time reads.
#include "core/dispatch.h"
#include "cpu/lstm.h"
#include "tape/sequence_ops.h"
#include "tape/ops.h"

namespace tc::tape {
namespace {

// dst [C, R] = src [R, C]^T (2-D, float): Keras's [I, 4H] kernels <-> the kernel's [4H, I].
void transpose_into(const Tensor& src, const Tensor& dst) {
  const int64_t R = src.size(0), C = src.size(1);
  TC_FLOAT_TYPES("lstm", src.dtype, T, {
    const T* s = src.ptr<T>();
    T* d = dst.ptr<T>();
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) d[c * R + r] = s[r * C + c];
  });
}

VarPtr transposed(const VarPtr& v, const char* arg) {
  check_input("lstm", arg, v->t());
  check_rank("lstm", arg, v->t(), 2, 2);
  VarPtr out = new_var(Shape{v->t().size(1), v->t().size(0)}, v->t().dtype);
  transpose_into(v->t(), out->t());
  return out;
}

cpu::LstmArgs args_of(const VarPtr& x, const VarPtr& w_ih, const VarPtr& w_hh, const VarPtr& bias,
                      const VarPtr& h0, const VarPtr& c0, bool batch_first) {
  auto t = [](const VarPtr& v) { return v ? &v->t() : nullptr; };
  return {&x->t(), &w_ih->t(), &w_hh->t(), t(bias), t(h0), t(c0), batch_first};
}

}  // namespace

VarPtr lstm(const VarPtr& x, const VarPtr& w_in, const VarPtr& w_rec, const VarPtr& bias, const VarPtr& h0,
            const VarPtr& c0, bool batch_first, bool return_sequences, bool keras_layout) {
  // The kernel's layout; Keras's kernels are transposed on the way in (and their gradients on
  // the way out): the gate order i, f, c, o is the kernel's i, f, g, o.
  const VarPtr w_ih = keras_layout ? transposed(w_in, "kernel") : w_in;
  const VarPtr w_hh = keras_layout ? transposed(w_rec, "recurrent_kernel") : w_rec;
  const cpu::LstmArgs a = args_of(x, w_ih, w_hh, bias, h0, c0, batch_first);
  const cpu::LstmDims d = cpu::lstm_check(a, "lstm");
  const DType dt = x->t().dtype;
  const int64_t s0 = x->t().size(0), s1 = x->t().size(1);
  VarPtr y = return_sequences ? new_var(Shape{s0, s1, d.H}, dt) : nullptr;
  VarPtr hn = new_var(Shape{d.B, d.H}, dt), cn = new_var(Shape{d.B, d.H}, dt);
  VarPtr ws = new_var(Shape{s0, s1, 6 * d.H}, dt);
  cpu::lstm(a, y ? &y->t() : nullptr, hn->t(), cn->t(), ws->t());
  VarPtr out = return_sequences ? y : hn;
  if (needs_record({&x, &w_in, &w_rec, &bias, &h0, &c0}))
    record("lstm", {x, w_in, w_rec, bias, h0, c0}, out,
           [x, w_ih, w_hh, bias, h0, c0, ws, batch_first, return_sequences, keras_layout](
               const Tensor& g, Tensor* const* gin) {
             const cpu::LstmArgs a = args_of(x, w_ih, w_hh, bias, h0, c0, batch_first);
             VarPtr dwih, dwhh;  // kernel-layout gradients, transposed into Keras's after
             if (keras_layout && gin[1]) dwih = new_var_like(w_ih->t());
             if (keras_layout && gin[2]) dwhh = new_var_like(w_hh->t());
             const Tensor* gi = dwih ? &dwih->t() : gin[1];
             const Tensor* gh = dwhh ? &dwhh->t() : gin[2];
             cpu::lstm_backward(a, ws->t(), return_sequences ? &g : nullptr, return_sequences ? nullptr : &g,
                                nullptr, {gin[0], gi, gh, gin[3], gin[4], gin[5]});
             if (dwih) transpose_into(dwih->t(), *gin[1]);
             if (dwhh) transpose_into(dwhh->t(), *gin[2]);
           });
  return out;
}

}  // namespace tc::tape
