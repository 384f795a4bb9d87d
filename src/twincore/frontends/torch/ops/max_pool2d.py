"""max_pool2d: custom ops twincore::max_pool2d / twincore::max_pool2d_backward.

x [N,C,H,W] / [N,H,W,C] (layout); kernel_size, stride [h, w]; padding as pads [h, w]
plus mode "explicit" | "same" | "valid". Returns (y, indices): y [N,C,OH,OW] /
[N,OH,OW,C] and int64 indices of y's shape (the argmax's flat h*W + w in its plane),
which is all the backward needs besides x's shape (x itself is not saved).
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, kernel_padding, register


def _forward(x: Tensor, kernel_size: list[int], stride: list[int], padding: list[int], padding_mode: str,
             layout: str) -> tuple[Tensor, Tensor]:
    return K.max_pool2d(x, tuple(kernel_size), tuple(stride), kernel_padding(padding, padding_mode),
                        layout=layout, return_indices=True)


max_pool2d = torch.library.custom_op("twincore::max_pool2d", _forward, mutates_args=())


max_pool2d.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, indices: Tensor, x_shape: list[int], layout: str) -> Tensor:
    return K.max_pool2d_backward(grad, indices, tuple(x_shape), layout=layout)


max_pool2d_backward = torch.library.custom_op("twincore::max_pool2d_backward", _backward_impl, mutates_args=())


max_pool2d_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    x, *_, layout = inputs
    ctx.x_shape, ctx.layout = list(x.shape), layout
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(output[1])


def _backward(ctx, grad, _grad_indices):
    (indices,) = ctx.saved_tensors
    if not ctx.needs_input_grad[0]:
        return (None,) * 6
    dx = backward_op(ctx, max_pool2d_backward, _backward_impl)(grad, indices, ctx.x_shape, ctx.layout)
    return dx, None, None, None, None, None


register(max_pool2d, _forward, _setup, _backward)
