"""conv2d: custom ops twincore::conv2d / twincore::conv2d_backward.

NCHW: x [N,C,H,W], weight [O,C,KH,KW] (torch's OIHW); NHWC: x [N,H,W,C], weight
[KH,KW,C,O] (TF's HWIO). bias [O] or None. stride/dilation [h, w]; padding travels as
pads [h, w] plus mode "explicit" | "same" (TF's rule) | "valid" (see _common.padding_arg).
y: [N,O,OH,OW] / [N,OH,OW,O]. Saves x and weight; the backward op computes only the
gradients autograd asks for.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import (backward_op, fake_from_core, kernel_padding, none_if_empty,
                                             placeholder, register)


def _forward(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride: list[int], padding: list[int],
             padding_mode: str, dilation: list[int], layout: str) -> Tensor:
    return K.conv2d(x, weight, bias, stride=tuple(stride), padding=kernel_padding(padding, padding_mode),
                    dilation=tuple(dilation), layout=layout)


conv2d = torch.library.custom_op("twincore::conv2d", _forward, mutates_args=())


conv2d.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, x: Tensor, weight: Tensor, stride: list[int], padding: list[int],
                   padding_mode: str, dilation: list[int], layout: str, need_x: bool, need_weight: bool,
                   need_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    dx, dw, db = K.conv2d_backward(grad, x, weight, stride=tuple(stride),
                                   padding=kernel_padding(padding, padding_mode), dilation=tuple(dilation),
                                   layout=layout, need_x=need_x, need_w=need_weight, need_bias=need_bias)
    return (dx if need_x else placeholder(grad), dw if need_weight else placeholder(grad),
            db if need_bias else placeholder(grad))


conv2d_backward = torch.library.custom_op("twincore::conv2d_backward", _backward_impl, mutates_args=())


conv2d_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    x, weight, bias, *geometry = inputs
    ctx.geometry = geometry  # stride, padding, padding_mode, dilation, layout
    ctx.save_for_backward(x, weight)


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    if not (need_x or need_w or need_b):
        return (None,) * 8
    bwd = backward_op(ctx, conv2d_backward, _backward_impl)
    dx, dw, db = bwd(grad, x, weight, *ctx.geometry, need_x, need_w, need_b)
    return (none_if_empty(dx, need_x), none_if_empty(dw, need_w), none_if_empty(db, need_b)) + (None,) * 5


register(conv2d, _forward, _setup, _backward)
