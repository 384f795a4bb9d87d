"""rotate (affine warp): custom ops twincore::rotate / twincore::rotate_backward.

images [N,C,H,W] / [N,H,W,C] (layout); angle in degrees counter-clockwise about the
image centre, a 0-d tensor or [N]; translate (dx, dy) in pixels, [2] or [N,2]; both in
images' dtype. interpolation "bilinear" | "nearest"; fill "zeros" | "constant" (fill_value)
| "nearest" | "reflect". out has images' shape. Differentiable w.r.t. images, angle and
translate; saves the three inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, fake_from_core, none_if_empty, placeholder, register


def _forward(images: Tensor, angle: Tensor, translate: Tensor, interpolation: str, fill: str, fill_value: float,
             layout: str) -> Tensor:
    return K.rotate(images, angle, translate, interpolation=interpolation, fill=fill, fill_value=fill_value,
                    layout=layout)


rotate = torch.library.custom_op("twincore::rotate", _forward, mutates_args=())


rotate.register_fake(fake_from_core(_forward))


def _backward_impl(grad: Tensor, images: Tensor, angle: Tensor, translate: Tensor, interpolation: str, fill: str,
                   fill_value: float, layout: str, need_images: bool, need_angle: bool,
                   need_translate: bool) -> tuple[Tensor, Tensor, Tensor]:
    di, da, dt = K.rotate_backward(grad, images, angle, translate, interpolation=interpolation, fill=fill,
                                   fill_value=fill_value, layout=layout, need_images=need_images,
                                   need_angle=need_angle, need_translate=need_translate)
    return (di if need_images else placeholder(grad), da if need_angle else placeholder(grad),
            dt if need_translate else placeholder(grad))


rotate_backward = torch.library.custom_op("twincore::rotate_backward", _backward_impl, mutates_args=())


rotate_backward.register_fake(fake_from_core(_backward_impl))


def _setup(ctx, inputs, output):
    images, angle, translate, *options = inputs
    ctx.options = options  # interpolation, fill, fill_value, layout
    ctx.save_for_backward(images, angle, translate)


def _backward(ctx, grad):
    images, angle, translate = ctx.saved_tensors
    need = ctx.needs_input_grad[:3]
    if not any(need):
        return (None,) * 7
    grads = backward_op(ctx, rotate_backward, _backward_impl)(grad, images, angle, translate, *ctx.options, *need)
    return tuple(none_if_empty(g, n) for g, n in zip(grads, need)) + (None,) * 4


register(rotate, _forward, _setup, _backward)
