"""mse as a TF op over the core.

mse(pred, target, reduction="mean"): pred and target of one shape; returns 0-d for
"mean"/"sum", pred's shape for "none". d/d target = -d/d pred.
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, check_reduction, same_dtype, tensor


def mse(pred, target, reduction: str = "mean") -> tf.Tensor:
    """Mean (or summed, or elementwise) squared error on the core."""
    op = "mse"
    pred = tensor(pred, op, "pred")
    target = tensor(target, op, "target")
    same_dtype(pred, target, op, "target")
    check_reduction(reduction, op)
    shape = pred.shape if reduction == "none" else tf.TensorShape([])

    @tf.custom_gradient
    def f(pred, target):
        loss = call(lambda p, t: K.mse(p, t, reduction=reduction), [pred, target], [(pred.dtype, shape)])

        def grad(dy):
            dp = call(lambda p, t, g: K.mse_backward(p, t, g, reduction=reduction),
                      [pred, target, dy], [(pred.dtype, pred.shape)])
            return dp, -dp

        return loss, grad

    return f(pred, target)
