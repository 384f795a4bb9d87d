"""batch_norm (training mode): custom ops twincore::batch_norm / twincore::batch_norm_backward, and
twincore::batch_norm_inference (running statistics; no gradient formula: eval-mode modules run
under no_grad in practice, and asking for one raises).

x [N, C] or images (layout "NCHW" / "NHWC"); gamma, beta [C] or None. Returns (y, mean, var), the
batch mean and biased variance [C] (marked non-differentiable: they only feed the running averages).
Saves x, gamma and the statistics.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, none_if_empty, placeholder, register


def _forward(x: Tensor, gamma: Optional[Tensor], beta: Optional[Tensor], eps: float,
             layout: str) -> tuple[Tensor, Tensor, Tensor]:
    return K.batch_norm(x, gamma, beta, eps, layout)


batch_norm = torch.library.custom_op("twincore::batch_norm", _forward, mutates_args=())


def _channels(x, layout):
    return x.shape[1] if x.dim() == 2 or layout == "NCHW" else x.shape[3]


@batch_norm.register_fake
def _(x, gamma, beta, eps, layout):
    c = _channels(x, layout)
    return x.new_empty(x.shape), x.new_empty((c,)), x.new_empty((c,))


def _backward_impl(grad: Tensor, x: Tensor, gamma: Optional[Tensor], mean: Tensor, var: Tensor, eps: float,
                   layout: str, need_x: bool, need_gamma: bool, need_beta: bool) -> tuple[Tensor, Tensor, Tensor]:
    dx, dg, db = K.batch_norm_backward(grad, x, gamma, mean, var, eps, layout, need_x, need_gamma, need_beta)
    return (dx if need_x else placeholder(grad), dg if need_gamma else placeholder(grad),
            db if need_beta else placeholder(grad))


batch_norm_backward = torch.library.custom_op("twincore::batch_norm_backward", _backward_impl, mutates_args=())


@batch_norm_backward.register_fake
def _(grad, x, gamma, mean, var, eps, layout, need_x, need_gamma, need_beta):
    c = mean.shape[0]
    return (grad.new_empty(x.shape if need_x else (0,)), grad.new_empty((c,) if need_gamma else (0,)),
            grad.new_empty((c,) if need_beta else (0,)))


def _setup(ctx, inputs, output):
    x, gamma, beta, eps, layout = inputs
    _, mean, var = output
    ctx.mark_non_differentiable(mean, var)
    ctx.eps, ctx.layout, ctx.has_gamma = eps, layout, gamma is not None
    ctx.save_for_backward(x, gamma if gamma is not None else x.new_empty(0), mean, var)


def _backward(ctx, grad, _gm, _gv):
    x, gamma, mean, var = ctx.saved_tensors
    need_x, need_g, need_b = ctx.needs_input_grad[:3]
    if not (need_x or need_g or need_b):
        return (None,) * 5
    bwd = backward_op(ctx, batch_norm_backward, _backward_impl)
    dx, dg, db = bwd(grad, x, gamma if ctx.has_gamma else None, mean, var, ctx.eps, ctx.layout, need_x, need_g,
                     need_b)
    return none_if_empty(dx, need_x), none_if_empty(dg, need_g), none_if_empty(db, need_b), None, None


register(batch_norm, _forward, _setup, _backward)


def _inference(x: Tensor, gamma: Optional[Tensor], beta: Optional[Tensor], running_mean: Tensor,
               running_var: Tensor, eps: float, layout: str) -> Tensor:
    return K.batch_norm_inference(x, gamma, beta, running_mean, running_var, eps, layout)


batch_norm_inference = torch.library.custom_op("twincore::batch_norm_inference", _inference, mutates_args=())
batch_norm_inference.register_fake(lambda x, gamma, beta, running_mean, running_var, eps, layout: x.new_empty(x.shape))
