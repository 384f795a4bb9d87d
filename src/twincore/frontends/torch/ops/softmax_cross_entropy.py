"""Fused softmax cross-entropy: custom op twincore::softmax_cross_entropy.

logits [N,C]; target [N] int32/int64 class ids, or [N,C] probabilities in logits'
dtype. reduction "mean" | "sum" | "none". Returns (loss, dlogits): loss 0-d (mean/sum)
or [N] (none), and dlogits [N,C] = d loss / d logits, computed by the kernel in the
same pass as the loss. dlogits is the only saved tensor; the backward scales it by
the incoming gradient (a scalar, or one value per row for "none"), so the backward
needs no kernel of its own. Gradients w.r.t. probability targets are not provided
(the functional layer refuses targets that require grad).
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import fake_from_core, register


def _forward(logits: Tensor, target: Tensor, label_smoothing: float,
             reduction: str) -> tuple[Tensor, Tensor]:
    return K.softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, reduction=reduction)


softmax_cross_entropy = torch.library.custom_op("twincore::softmax_cross_entropy", _forward, mutates_args=())


softmax_cross_entropy.register_fake(fake_from_core(_forward))


def _setup(ctx, inputs, output):
    ctx.none = inputs[3] == "none"
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(output[1])


def _backward(ctx, grad, _grad_dlogits):
    if not ctx.needs_input_grad[0]:
        return None, None, None, None
    (dlogits,) = ctx.saved_tensors
    return dlogits * (grad.unsqueeze(-1) if ctx.none else grad), None, None, None


register(softmax_cross_entropy, _forward, _setup, _backward)
