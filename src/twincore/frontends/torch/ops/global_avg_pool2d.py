"""global_avg_pool2d: custom ops twincore::global_avg_pool2d / twincore::global_avg_pool2d_backward.

x [N,C,H,W] / [N,H,W,C] (layout) -> y [N,C], the mean over H and W. Nothing is saved
but x's shape.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K


@torch.library.custom_op("twincore::global_avg_pool2d", mutates_args=())
def global_avg_pool2d(x: Tensor, layout: str) -> Tensor:
    return K.global_avg_pool2d(x, layout=layout)


@global_avg_pool2d.register_fake
def _(x, layout):
    return x.new_empty((x.shape[0], x.shape[1] if layout == "NCHW" else x.shape[3]))


@torch.library.custom_op("twincore::global_avg_pool2d_backward", mutates_args=())
def global_avg_pool2d_backward(grad: Tensor, x_shape: list[int], layout: str) -> Tensor:
    return K.global_avg_pool2d_backward(grad, tuple(x_shape), layout=layout)


@global_avg_pool2d_backward.register_fake
def _(grad, x_shape, layout):
    return grad.new_empty(x_shape)


def _setup(ctx, inputs, output):
    x, layout = inputs
    ctx.x_shape, ctx.layout = list(x.shape), layout


def _backward(ctx, grad):
    if not ctx.needs_input_grad[0]:
        return None, None
    return global_avg_pool2d_backward(grad, ctx.x_shape, ctx.layout), None


global_avg_pool2d.register_autograd(_backward, setup_context=_setup)
