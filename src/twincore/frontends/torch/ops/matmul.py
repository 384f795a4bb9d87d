"""matmul (+ bias): custom ops twincore::matmul / twincore::matmul_backward.

a: [M,K] or [B,M,K] ([K,M] / [B,K,M] with trans_a); b: [K,N] or [B,K,N] ([N,K] /
[B,N,K] with trans_b), a 2-D b shared by every batch; bias: [N] or None.
c: [M,N] or [B,M,N]. torch's linear(x, w[out,in], bias) is matmul(x, w, bias, trans_b=True).
Saves a and b (the inputs themselves, no new memory); the backward op computes only
the gradients autograd asks for (need_a/need_b/need_bias from ctx.needs_input_grad).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, none_if_empty, placeholder, register


def _forward(a: Tensor, b: Tensor, bias: Optional[Tensor], trans_a: bool, trans_b: bool) -> Tensor:
    return K.matmul(a, b, bias, trans_a=trans_a, trans_b=trans_b)


matmul = torch.library.custom_op("twincore::matmul", _forward, mutates_args=())


matmul.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, a: Tensor, b: Tensor, trans_a: bool, trans_b: bool, need_a: bool,
                   need_b: bool, need_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
    da, db, dbias = K.matmul_backward(grad, a, b, trans_a=trans_a, trans_b=trans_b, need_a=need_a,
                                      need_b=need_b, need_bias=need_bias)
    return (da if need_a else placeholder(grad), db if need_b else placeholder(grad),
            dbias if need_bias else placeholder(grad))


matmul_backward = torch.library.custom_op("twincore::matmul_backward", _backward_impl, mutates_args=())


matmul_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    a, b, bias, trans_a, trans_b = inputs
    ctx.trans = (trans_a, trans_b)
    ctx.save_for_backward(a, b)


def _backward(ctx, grad):
    a, b = ctx.saved_tensors
    need_a, need_b, need_bias = ctx.needs_input_grad[:3]
    if not (need_a or need_b or need_bias):
        return None, None, None, None, None
    bwd = backward_op(ctx, matmul_backward, _backward_impl)
    da, db, dbias = bwd(grad, a, b, *ctx.trans, need_a, need_b, need_bias)
    return (none_if_empty(da, need_a), none_if_empty(db, need_b), none_if_empty(dbias, need_bias),
            None, None)


register(matmul, _forward, _setup, _backward)
