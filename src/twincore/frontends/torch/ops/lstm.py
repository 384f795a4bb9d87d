"""lstm: custom ops twincore::lstm / twincore::lstm_backward (the whole sequence, fused).

The kernel's layout (twincore.kernels.lstm): x [T,B,I] / [B,T,I] (batch_first); w_ih
[4H,I], w_hh [4H,H] (gates i, f, g, o: torch's nn.LSTM order); one bias [4H] or None;
h0, c0 [B,H] or None. Returns (y, h_n, c_n, workspace): y [T,B,H] / [B,T,H], or an
empty placeholder when return_sequences is False (custom ops cannot return None);
workspace [T,B,6H] / [B,T,6H] (the activated gates and states the backward reads) is
not differentiable. Saves x, the weights, h0, c0 and the workspace.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, none_if_empty, placeholder, register


def _forward(x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Optional[Tensor], h0: Optional[Tensor],
             c0: Optional[Tensor], batch_first: bool, return_sequences: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    y, hn, cn, ws = K.lstm(x, w_ih, w_hh, bias, h0, c0, batch_first=batch_first, return_sequences=return_sequences)
    return (y if y is not None else placeholder(x)), hn, cn, ws


lstm = torch.library.custom_op("twincore::lstm", _forward, mutates_args=())


@lstm.register_fake
def _(x, w_ih, w_hh, bias, h0, c0, batch_first, return_sequences):
    lead, b = tuple(x.shape[:2]), x.shape[0] if batch_first else x.shape[1]
    h = w_hh.shape[1]
    y = x.new_empty((*lead, h)) if return_sequences else x.new_empty((0,))
    return y, x.new_empty((b, h)), x.new_empty((b, h)), x.new_empty((*lead, 6 * h))


def _backward_impl(grad_y: Optional[Tensor], grad_h_n: Optional[Tensor], grad_c_n: Optional[Tensor], x: Tensor,
                   w_ih: Tensor, w_hh: Tensor, h0: Optional[Tensor], c0: Optional[Tensor], workspace: Tensor,
                   batch_first: bool, need_bias: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    out = K.lstm_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, workspace, batch_first=batch_first,
                          need_bias=need_bias)
    return tuple(o if o is not None else placeholder(x) for o in out)


lstm_backward = torch.library.custom_op("twincore::lstm_backward", _backward_impl, mutates_args=())


@lstm_backward.register_fake
def _(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, workspace, batch_first, need_bias):
    b, g = (x.shape[0] if batch_first else x.shape[1]), w_ih.shape[0]
    e = (0,)
    return (x.new_empty(x.shape), x.new_empty(w_ih.shape), x.new_empty(w_hh.shape),
            x.new_empty((g,) if need_bias else e), x.new_empty((b, g // 4) if h0 is not None else e), x.new_empty((b, g // 4) if c0 is not None else e))


def _setup(ctx, inputs, output):
    x, w_ih, w_hh, bias, h0, c0, batch_first, return_sequences = inputs
    ctx.batch_first, ctx.return_sequences, ctx.has_bias = batch_first, return_sequences, bias is not None
    ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
    ctx.mark_non_differentiable(output[3])
    ctx.save_for_backward(x, w_ih, w_hh, h0, c0, output[3])


def _backward(ctx, grad_y, grad_h_n, grad_c_n, _grad_ws):
    x, w_ih, w_hh, h0, c0, ws = ctx.saved_tensors
    if not any(ctx.needs_input_grad[:6]):
        return (None,) * 8
    gy = grad_y if ctx.return_sequences else None
    bwd = backward_op(ctx, lstm_backward, _backward_impl)
    dx, dwih, dwhh, db, dh0, dc0 = bwd(gy, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, ws, ctx.batch_first,
                                        ctx.has_bias)
    need = ctx.needs_input_grad
    return (dx if need[0] else None, dwih if need[1] else None, dwhh if need[2] else None,
            none_if_empty(db, ctx.has_bias and need[3]), none_if_empty(dh0, ctx.has_h0 and need[4]),
            none_if_empty(dc0, ctx.has_c0 and need[5]), None, None)


register(lstm, _forward, _setup, _backward)
