"""Fused binary cross-entropy from logits: custom op twincore::binary_cross_entropy_with_logits.

logits, target: the same shape; pos_weight [C] / [1] or None; label_smoothing as Keras
(target * (1 - s) + s / 2). Returns (loss, dlogits): loss 0-d (mean/sum) or like logits
(none), dlogits = d loss / d logits from the same pass. dlogits is the only saved tensor;
the backward scales it by the incoming gradient. No gradient for target or pos_weight.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import register


def _forward(logits: Tensor, target: Tensor, pos_weight: Optional[Tensor], label_smoothing: float,
             reduction: str) -> tuple[Tensor, Tensor]:
    return K.binary_cross_entropy_with_logits(logits, target, pos_weight, label_smoothing, reduction)


binary_cross_entropy_with_logits = torch.library.custom_op("twincore::binary_cross_entropy_with_logits", _forward,
                                                           mutates_args=())


@binary_cross_entropy_with_logits.register_fake
def _(logits, target, pos_weight, label_smoothing, reduction):
    return logits.new_empty(logits.shape if reduction == "none" else ()), logits.new_empty(logits.shape)


def _setup(ctx, inputs, output):
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(output[1])


def _backward(ctx, grad, _grad_dlogits):
    if not ctx.needs_input_grad[0]:
        return None, None, None, None, None
    (dlogits,) = ctx.saved_tensors
    return dlogits * grad, None, None, None, None


register(binary_cross_entropy_with_logits, _forward, _setup, _backward)
