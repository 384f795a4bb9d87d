"""relu, tanh: custom ops twincore::relu / twincore::tanh and their backward ops.

x: any shape, float32/float64; y has x's shape. The backward ops take the forward's
output y (all these gradients need), so y is the only saved tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K


def _elementwise(name: str, fwd, bwd):
    @torch.library.custom_op(f"twincore::{name}", mutates_args=())
    def op(x: Tensor) -> Tensor:
        return fwd(x)

    @op.register_fake
    def _(x):
        return x.new_empty(x.shape)

    @torch.library.custom_op(f"twincore::{name}_backward", mutates_args=())
    def op_backward(grad: Tensor, y: Tensor) -> Tensor:
        return bwd(grad, y)

    @op_backward.register_fake
    def _(grad, y):
        return grad.new_empty(grad.shape)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return op_backward(grad, y) if ctx.needs_input_grad[0] else None

    op.register_autograd(backward, setup_context=setup_context)
    return op, op_backward


relu, relu_backward = _elementwise("relu", lambda x: K.relu(x), lambda g, y: K.relu_backward(g, y))
tanh, tanh_backward = _elementwise("tanh", lambda x: K.tanh(x), lambda g, y: K.tanh_backward(g, y))
