"""Softmax over the last axis (forward and backward).

Shapes: x of any rank >= 1, rows along the last axis; y and dx have x's shape, dtype
and kind. The backward takes the forward's output y: dx = y * (grad - sum(grad * y)).
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def softmax(x):
    """y = exp(x - max) / sum(exp(x - max)) over the last axis; NaN in a row gives a NaN row."""
    x, kind = prepare(x)
    return kind.wrap(_core.softmax(x, kind.alloc))


def softmax_backward(grad, y):
    """dx = y * (grad - sum(grad * y, last axis)), with y = softmax(x); grad and y of x's shape."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.softmax_backward(grad, to_core(y), kind.alloc))
