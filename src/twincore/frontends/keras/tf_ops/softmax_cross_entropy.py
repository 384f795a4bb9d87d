"""softmax_cross_entropy as a TF op over the core's fused kernel.

softmax_cross_entropy(logits, labels, label_smoothing=0.0, reduction="none"):
    logits [N,C]; labels [N] int32/int64 class ids, or [N,C] probabilities / one-hot in
    logits' dtype. Returns the loss: [N] for "none", 0-d for "mean" / "sum". The kernel
    computes d loss / d logits in the same pass; the backward only scales it by the
    upstream gradient. Labels get no gradient.
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, check_reduction, tensor

_INTS = (tf.int32, tf.int64)


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0, reduction: str = "none") -> tf.Tensor:
    """Cross-entropy of softmax(logits) against labels; see the module docstring."""
    op = "softmax_cross_entropy"
    logits = tensor(logits, op, "logits", rank=2)
    labels = tensor(labels, op, "labels", dtypes=_INTS + (logits.dtype,), rank=(1, 2))
    check_reduction(reduction, op)
    shape = tf.TensorShape([logits.shape[0]] if reduction == "none" else [])
    s = float(label_smoothing)

    def fwd(logits, labels):
        return K.softmax_cross_entropy(logits, labels, label_smoothing=s, reduction=reduction)

    @tf.custom_gradient
    def f(logits, labels):
        loss, dlogits = call(fwd, [logits, labels], [(logits.dtype, shape), (logits.dtype, logits.shape)])

        def grad(dy):
            # d loss_i / d logits_i is row i of dlogits; chain with the upstream gradient.
            scale = dy[:, None] if reduction == "none" else dy
            return dlogits * scale, None

        return loss, grad

    return f(logits, labels)
