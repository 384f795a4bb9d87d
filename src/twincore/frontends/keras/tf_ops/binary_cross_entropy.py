"""binary_cross_entropy_with_logits as a TF op over the core's fused kernel.

binary_cross_entropy_with_logits(logits, targets, label_smoothing=0.0, reduction="none", pos_weight=None):
    logits, targets: the same shape (targets cast to the logits' dtype by the caller); returns the
    loss, like logits for "none", 0-d for "mean" / "sum". The kernel computes d loss / d logits in
    the same pass; the backward only scales it by the upstream gradient. Targets get no gradient.
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, check_reduction, same_dtype, tensor


def binary_cross_entropy_with_logits(logits, targets, label_smoothing: float = 0.0, reduction: str = "none",
                                     pos_weight=None) -> tf.Tensor:
    op = "binary_cross_entropy_with_logits"
    logits = tensor(logits, op, "logits")
    targets = tensor(targets, op, "targets")
    same_dtype(logits, targets, op, "targets")
    check_reduction(reduction, op)
    pw = None if pos_weight is None else tensor(pos_weight, op, "pos_weight", rank=1)
    shape = logits.shape if reduction == "none" else tf.TensorShape([])
    s = float(label_smoothing)

    def fwd(logits, targets, *pw):
        return K.binary_cross_entropy_with_logits(logits, targets, pw[0] if pw else None, s, reduction)

    @tf.custom_gradient
    def f(logits, targets):
        loss, dlogits = call(fwd, [logits, targets] + ([pw] if pw is not None else []),
                             [(logits.dtype, shape), (logits.dtype, logits.shape)])
        return loss, lambda dy: (dlogits * dy, None)

    return f(logits, targets)
