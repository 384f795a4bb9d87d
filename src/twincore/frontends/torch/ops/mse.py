"""Mean squared error: custom ops twincore::mse / twincore::mse_backward.

pred and target of the same shape and dtype; reduction "mean" | "sum" | "none";
loss 0-d (mean/sum) or pred's shape (none). Saves pred and target. d target = -d pred.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, register


def _forward(pred: Tensor, target: Tensor, reduction: str) -> Tensor:
    return K.mse(pred, target, reduction=reduction)


mse = torch.library.custom_op("twincore::mse", _forward, mutates_args=())


mse.register_fake(fake_from_core(_forward))


def _backward_impl(pred: Tensor, target: Tensor, grad: Tensor, reduction: str) -> Tensor:
    return K.mse_backward(pred, target, grad, reduction=reduction)


mse_backward = torch.library.custom_op("twincore::mse_backward", _backward_impl, mutates_args=())


mse_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    pred, target, ctx.reduction = inputs
    ctx.save_for_backward(pred, target)


def _backward(ctx, grad):
    pred, target = ctx.saved_tensors
    need_pred, need_target = ctx.needs_input_grad[:2]
    if not (need_pred or need_target):
        return None, None, None
    dpred = backward_op(ctx, mse_backward, _backward_impl)(pred, target, grad, ctx.reduction)
    return (dpred if need_pred else None), (-dpred if need_target else None), None


register(mse, _forward, _setup, _backward)
