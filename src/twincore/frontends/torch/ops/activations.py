"""relu, tanh: custom ops twincore::relu / twincore::tanh and their backward ops.

x: any shape, float32/float64; y has x's shape. The backward ops take the forward's
output y (all these gradients need), so y is the only saved tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, register


def _elementwise(name: str, fwd, bwd):
    def forward(x: Tensor) -> Tensor:
        return fwd(x)

    def backward_impl(grad: Tensor, y: Tensor) -> Tensor:
        return bwd(grad, y)

    op = torch.library.custom_op(f"twincore::{name}", forward, mutates_args=())
    op_backward = torch.library.custom_op(f"twincore::{name}_backward", backward_impl, mutates_args=())
    op.register_fake(fake_from_core(forward))
    op_backward.register_fake(fake_from_core(backward_impl))

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return backward_op(ctx, op_backward, backward_impl)(grad, y) if ctx.needs_input_grad[0] else None

    register(op, forward, setup_context, backward)
    return op, op_backward


relu, relu_backward = _elementwise("relu", K.relu, K.relu_backward)
tanh, tanh_backward = _elementwise("tanh", K.tanh, K.tanh_backward)
sigmoid, sigmoid_backward = _elementwise("sigmoid", K.sigmoid, K.sigmoid_backward)
