"""Mean squared error (forward and backward).

pred, target: same shape (any rank), float32/float64. reduction "mean" | "sum" | "none":
loss is 0-d for mean/sum, pred's shape for none. mse_backward returns dpred (pred's shape):
2 * (pred - target) * grad, divided by pred.size for "mean".
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def mse(pred, target, reduction: str = "mean"):
    """mean / sum / elementwise of (pred - target)**2."""
    pred, kind = prepare(pred)
    return kind.wrap(_core.mse(pred, to_core(target), reduction, kind.alloc))


def mse_backward(pred, target, grad=None, reduction: str = "mean"):
    """d loss / d pred times the upstream grad (a scalar / 0-d array for mean and sum, pred's
    shape for none; None means 1)."""
    pred_c, kind = prepare(pred)  # a Python scalar grad is folded into the scale by the core
    return kind.wrap(_core.mse_backward(pred_c, to_core(target), to_core(grad), reduction, kind.alloc))
