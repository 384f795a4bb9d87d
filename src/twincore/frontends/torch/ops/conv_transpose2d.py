"""conv_transpose2d: custom ops twincore::conv_transpose2d / twincore::conv_transpose2d_backward.

NCHW: x [N,Cin,H,W], weight [Cin,Cout,KH,KW] (torch's); NHWC: x [N,H,W,Cin], weight
[KH,KW,Cout,Cin] (Keras's). bias [Cout] or None. stride/dilation [h, w]; padding as pads
[h, w] plus mode "explicit" | "same" | "valid" (Keras's rules); output_padding [h, w], or
[-1, -1] for None. Saves x and weight; the backward op computes only what autograd asks for.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, kernel_padding, none_if_empty, placeholder, register


def _opad(output_padding):
    return None if output_padding[0] < 0 else (int(output_padding[0]), int(output_padding[1]))


def _forward(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride: list[int], padding: list[int],
             padding_mode: str, output_padding: list[int], dilation: list[int], layout: str) -> Tensor:
    return K.conv_transpose2d(x, weight, bias, stride=tuple(stride), padding=kernel_padding(padding, padding_mode),
                              output_padding=_opad(output_padding), dilation=tuple(dilation), layout=layout)


conv_transpose2d = torch.library.custom_op("twincore::conv_transpose2d", _forward, mutates_args=())


def out_size(n, k, s, d, pad, mode, opad):
    """Output length along one axis (kernels/conv_transpose2d's rule), // only (symbolic ints)."""
    keff = d * (k - 1) + 1
    if mode == "valid":
        return n * s + max(keff - s, 0) if opad < 0 else (n - 1) * s + keff + opad
    if mode == "same":
        return n * s if opad < 0 else (n - 1) * s + keff - 2 * (keff // 2) + opad
    return (n - 1) * s - 2 * pad + keff + max(opad, 0)


@conv_transpose2d.register_fake
def _(x, weight, bias, stride, padding, padding_mode, output_padding, dilation, layout):
    if layout == "NCHW":
        (n, _, h, w), (_, o, kh, kw) = x.shape, weight.shape
    else:
        (n, h, w, _), (kh, kw, o, _) = x.shape, weight.shape
    oh = out_size(h, kh, stride[0], dilation[0], padding[0], padding_mode, output_padding[0])
    ow = out_size(w, kw, stride[1], dilation[1], padding[1], padding_mode, output_padding[1])
    return x.new_empty((n, o, oh, ow) if layout == "NCHW" else (n, oh, ow, o))


def _backward_impl(grad: Tensor, x: Tensor, weight: Tensor, stride: list[int], padding: list[int],
                   padding_mode: str, output_padding: list[int], dilation: list[int], layout: str, need_x: bool,
                   need_weight: bool, need_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    dx, dw, db = K.conv_transpose2d_backward(grad, x, weight, stride=tuple(stride),
                                             padding=kernel_padding(padding, padding_mode),
                                             output_padding=_opad(output_padding), dilation=tuple(dilation),
                                             layout=layout, need_x=need_x, need_w=need_weight, need_bias=need_bias)
    return (dx if need_x else placeholder(grad), dw if need_weight else placeholder(grad),
            db if need_bias else placeholder(grad))


conv_transpose2d_backward = torch.library.custom_op("twincore::conv_transpose2d_backward", _backward_impl,
                                                    mutates_args=())


@conv_transpose2d_backward.register_fake
def _(grad, x, weight, stride, padding, padding_mode, output_padding, dilation, layout, need_x, need_weight,
      need_bias):
    o = weight.shape[1] if layout == "NCHW" else weight.shape[2]
    return (grad.new_empty(x.shape if need_x else (0,)), grad.new_empty(weight.shape if need_weight else (0,)),
            grad.new_empty((o,) if need_bias else (0,)))


def _setup(ctx, inputs, output):
    x, weight, bias, *geometry = inputs
    ctx.geometry = geometry  # stride, padding, padding_mode, output_padding, dilation, layout
    ctx.save_for_backward(x, weight)


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    if not (need_x or need_w or need_b):
        return (None,) * 9
    bwd = backward_op(ctx, conv_transpose2d_backward, _backward_impl)
    dx, dw, db = bwd(grad, x, weight, *ctx.geometry, need_x, need_w, need_b)
    return (none_if_empty(dx, need_x), none_if_empty(dw, need_w), none_if_empty(db, need_b)) + (None,) * 6


register(conv_transpose2d, _forward, _setup, _backward)
