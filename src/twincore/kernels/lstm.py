"""LSTM over a whole sequence in one op (single layer, unidirectional), fused as cuDNN does.

The kernel's one layout (torch's nn.LSTM and Keras's LSTM are converted to it by the
frontends; see cpp/cpu/lstm.h):

    x      [T, B, I] (time major) or [B, T, I] (batch_first=True)
    w_ih   [4H, I]   gate rows in the order i, f, g, o (g: the cell candidate, Keras's "c")
    w_hh   [4H, H]
    bias   [4H] or None (torch: bias_ih + bias_hh; Keras: its one bias)
    h0, c0 [B, H] or None (zeros)

    i = sigmoid(x W_i^T + h W_hi^T + b_i)   (likewise f, o; g with tanh)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

lstm returns (y, h_n, c_n, workspace): y [T, B, H] / [B, T, H] (every h_t) when
return_sequences, else None; h_n, c_n [B, H]; workspace [T, B, 6H] / [B, T, 6H] holds the
activated gates, c_t and h_{t-1} of each step, which lstm_backward reads.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def lstm(x, w_ih, w_hh, bias=None, h0=None, c0=None, batch_first: bool = False, return_sequences: bool = True):
    """Return (y or None, h_n, c_n, workspace), all of x's kind and dtype."""
    x, kind = prepare(x)
    return kind.wrap(_core.lstm(x, to_core(w_ih), to_core(w_hh), to_core(bias), to_core(h0), to_core(c0),
                                bool(batch_first), bool(return_sequences), kind.alloc))


def lstm_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, workspace, batch_first: bool = False,
                  need_bias: bool = True):
    """Backward through time from the gradients of y (None when return_sequences was False),
    h_n and c_n (each None = 0). x, w_ih, w_hh, h0, c0, workspace: as given to / returned by
    lstm. Returns (dx, dw_ih, dw_hh, dbias or None, dh0 or None, dc0 or None): dbias when
    need_bias, dh0 / dc0 when h0 / c0 were given."""
    x, kind = prepare(x)
    return kind.wrap(_core.lstm_backward(to_core(grad_y), to_core(grad_h_n), to_core(grad_c_n), x, to_core(w_ih),
                                         to_core(w_hh), to_core(h0), to_core(c0), to_core(workspace),
                                         bool(batch_first), bool(need_bias), kind.alloc))
