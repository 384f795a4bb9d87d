"""softmax over the last dim: custom ops twincore::softmax / twincore::softmax_backward.

x: any shape of rank >= 1; y has x's shape. Saves y only.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, register


def _forward(x: Tensor) -> Tensor:
    return K.softmax(x)


softmax = torch.library.custom_op("twincore::softmax", _forward, mutates_args=())


softmax.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, y: Tensor) -> Tensor:
    return K.softmax_backward(grad, y)


softmax_backward = torch.library.custom_op("twincore::softmax_backward", _backward_impl, mutates_args=())


softmax_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    ctx.save_for_backward(output)


def _backward(ctx, grad):
    (y,) = ctx.saved_tensors
    return backward_op(ctx, softmax_backward, _backward_impl)(grad, y) if ctx.needs_input_grad[0] else None


register(softmax, _forward, _setup, _backward)
