"""leaky_relu: custom ops twincore::leaky_relu / twincore::leaky_relu_backward.

x: any shape, float32/float64; y has x's shape. The backward reads the input x (the sign
of y alone is ambiguous for a negative slope), so x is the saved tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, register


def _forward(x: Tensor, negative_slope: float) -> Tensor:
    return K.leaky_relu(x, negative_slope)


def _backward_impl(grad: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    return K.leaky_relu_backward(grad, x, negative_slope)


leaky_relu = torch.library.custom_op("twincore::leaky_relu", _forward, mutates_args=())
leaky_relu_backward = torch.library.custom_op("twincore::leaky_relu_backward", _backward_impl, mutates_args=())
leaky_relu.register_fake(lambda x, negative_slope: x.new_empty(x.shape))
leaky_relu_backward.register_fake(lambda grad, x, negative_slope: grad.new_empty(grad.shape))


def _setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])
    ctx.slope = inputs[1]


def _backward(ctx, grad):
    if not ctx.needs_input_grad[0]:
        return None, None
    (x,) = ctx.saved_tensors
    return backward_op(ctx, leaky_relu_backward, _backward_impl)(grad, x, ctx.slope), None


register(leaky_relu, _forward, _setup, _backward)
