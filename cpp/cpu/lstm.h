// LSTM: a whole single-layer, unidirectional sequence in one op, fused as cuDNN does.
//
// The one kernel layout (the frontends convert torch's / Keras's at their edges):
//   x      [T, B, I] (time major) or [B, T, I] (batch_first)
//   w_ih   [4H, I]   rows in gate order i, f, g, o (g = the cell candidate, Keras's "c")
//   w_hh   [4H, H]   same gate order
//   bias   [4H] or none (torch's bias_ih + bias_hh summed; Keras's one bias)
//   h0, c0 [B, H] or none (zeros)
//   y      [T, B, H] / [B, T, H] (every h_t) when return_sequences, else none
//   h_n, c_n [B, H]  the last step's states
//   ws     [T, B, 6H] / [B, T, 6H] (x's row order), what the backward reads; per row (t, b):
//          [i f g o] activated gates (4H) | c_t (H) | h_{t-1} (H, h0 or 0 at t = 0)
//
// Forward: (1) x @ w_ih^T + bias for all steps as ONE GEMM into ws; (2) per step, one
// GEMM adds h_{t-1} @ w_hh^T onto that step's gate rows, then one fused pass applies
// sigmoid/tanh, updates c and writes h. Backward through time runs the same way in reverse
// (per step: the fused gate gradients, one GEMM for dh_{t-1} = dG_t @ w_hh), then dx, dw_ih,
// dw_hh each as ONE GEMM over all steps and dbias as column sums (fixed order: the same bits
// every run).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tc::cpu {

struct LstmArgs {
  const Tensor* x = nullptr;
  const Tensor* w_ih = nullptr;
  const Tensor* w_hh = nullptr;
  const Tensor* bias = nullptr;  // optional
  const Tensor* h0 = nullptr;    // optional
  const Tensor* c0 = nullptr;    // optional
  bool batch_first = false;
};

// Validates every argument (ValueError/TypeError naming `op` and the argument); returns
// (T, B, I, H).
struct LstmDims {
  int64_t T, B, I, H;
};
LstmDims lstm_check(const LstmArgs& a, const char* op);

// y may be null (return_sequences=false).
void lstm(const LstmArgs& a, const Tensor* y, const Tensor& h_n, const Tensor& c_n, const Tensor& ws);

// Gradients in: dy (like y) / dh_n / dc_n, each optional (absent = 0). Out: each of dx, dw_ih,
// dw_hh, dbias, dh0, dc0 where non-null (the tape asks only for what it tracks).
struct LstmGrads {
  const Tensor* dx;
  const Tensor* dw_ih;
  const Tensor* dw_hh;
  const Tensor* dbias;
  const Tensor* dh0;
  const Tensor* dc0;
};
void lstm_backward(const LstmArgs& a, const Tensor& ws, const Tensor* dy, const Tensor* dh_n,
                   const Tensor* dc_n, const LstmGrads& g);

}  // namespace tc::cpu
