"""Mean squared error: custom ops twincore::mse / twincore::mse_backward.

pred and target of the same shape and dtype; reduction "mean" | "sum" | "none";
loss 0-d (mean/sum) or pred's shape (none). Saves pred and target. d target = -d pred.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K


@torch.library.custom_op("twincore::mse", mutates_args=())
def mse(pred: Tensor, target: Tensor, reduction: str) -> Tensor:
    return K.mse(pred, target, reduction=reduction)


@mse.register_fake
def _(pred, target, reduction):
    return pred.new_empty(pred.shape if reduction == "none" else ())


@torch.library.custom_op("twincore::mse_backward", mutates_args=())
def mse_backward(pred: Tensor, target: Tensor, grad: Tensor, reduction: str) -> Tensor:
    return K.mse_backward(pred, target, grad, reduction=reduction)


@mse_backward.register_fake
def _(pred, target, grad, reduction):
    return pred.new_empty(pred.shape)


def _setup(ctx, inputs, output):
    pred, target, ctx.reduction = inputs
    ctx.save_for_backward(pred, target)


def _backward(ctx, grad):
    pred, target = ctx.saved_tensors
    need_pred, need_target = ctx.needs_input_grad[:2]
    if not (need_pred or need_target):
        return None, None, None
    dpred = mse_backward(pred, target, grad, ctx.reduction)
    return (dpred if need_pred else None), (-dpred if need_target else None), None


mse.register_autograd(_backward, setup_context=_setup)
