"""global_avg_pool2d: custom ops twincore::global_avg_pool2d / twincore::global_avg_pool2d_backward.

x [N,C,H,W] / [N,H,W,C] (layout) -> y [N,C], the mean over H and W. Nothing is saved
but x's shape.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, register


def _forward(x: Tensor, layout: str) -> Tensor:
    return K.global_avg_pool2d(x, layout=layout)


global_avg_pool2d = torch.library.custom_op("twincore::global_avg_pool2d", _forward, mutates_args=())


global_avg_pool2d.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, x_shape: list[int], layout: str) -> Tensor:
    return K.global_avg_pool2d_backward(grad, tuple(x_shape), layout=layout)


global_avg_pool2d_backward = torch.library.custom_op("twincore::global_avg_pool2d_backward", _backward_impl,
                                                     mutates_args=())


global_avg_pool2d_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    x, layout = inputs
    ctx.x_shape, ctx.layout = list(x.shape), layout


def _backward(ctx, grad):
    if not ctx.needs_input_grad[0]:
        return None, None
    return backward_op(ctx, global_avg_pool2d_backward, _backward_impl)(grad, ctx.x_shape, ctx.layout), None


register(global_avg_pool2d, _forward, _setup, _backward)
