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
from twincore.frontends.torch._common import backward_op, kernel_padding, out_size, register


def _forward(x: Tensor, kernel_size: list[int], stride: list[int], padding: list[int], padding_mode: str,
             layout: str) -> tuple[Tensor, Tensor]:
    return K.max_pool2d(x, tuple(kernel_size), tuple(stride), kernel_padding(padding, padding_mode),
                        layout=layout, return_indices=True)


max_pool2d = torch.library.custom_op("twincore::max_pool2d", _forward, mutates_args=())


@max_pool2d.register_fake
def _(x, kernel_size, stride, padding, padding_mode, layout):
    if layout == "NCHW":
        n, c, h, w = x.shape
    else:
        n, h, w, c = x.shape
    oh = out_size(h, kernel_size[0], stride[0], 1, padding[0], padding_mode)
    ow = out_size(w, kernel_size[1], stride[1], 1, padding[1], padding_mode)
    shape = (n, c, oh, ow) if layout == "NCHW" else (n, oh, ow, c)
    return x.new_empty(shape), x.new_empty(shape, dtype=torch.int64)


def _backward_impl(grad: Tensor, indices: Tensor, x_shape: list[int], layout: str) -> Tensor:
    return K.max_pool2d_backward(grad, indices, tuple(x_shape), layout=layout)


max_pool2d_backward = torch.library.custom_op("twincore::max_pool2d_backward", _backward_impl, mutates_args=())


@max_pool2d_backward.register_fake
def _(grad, indices, x_shape, layout):
    return grad.new_empty(x_shape)


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
