"""softmax over the last dim: custom ops twincore::softmax / twincore::softmax_backward.

x: any shape of rank >= 1; y has x's shape. Saves y only.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K


@torch.library.custom_op("twincore::softmax", mutates_args=())
def softmax(x: Tensor) -> Tensor:
    return K.softmax(x)


@softmax.register_fake
def _(x):
    return x.new_empty(x.shape)


@torch.library.custom_op("twincore::softmax_backward", mutates_args=())
def softmax_backward(grad: Tensor, y: Tensor) -> Tensor:
    return K.softmax_backward(grad, y)


@softmax_backward.register_fake
def _(grad, y):
    return grad.new_empty(grad.shape)


def _setup(ctx, inputs, output):
    ctx.save_for_backward(output)


def _backward(ctx, grad):
    (y,) = ctx.saved_tensors
    return softmax_backward(grad, y) if ctx.needs_input_grad[0] else None


softmax.register_autograd(_backward, setup_context=_setup)
