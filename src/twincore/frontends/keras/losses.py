"""Keras losses computed by the core's fused softmax cross-entropy (and mse).

SparseCategoricalCrossentropy / CategoricalCrossentropy take keras.losses' arguments.
y_pred [..., C] (class axis last); y_true [...] (or [..., 1]) class ids for the sparse
loss, [..., C] one-hot / probabilities for the categorical one. The per-sample loss
comes from the kernel, which also gives d loss / d logits in the same pass; Keras
then applies its reduction and sample weights as usual.

from_logits=False (Keras's default): y_pred are probabilities. As Keras does, they
are normalised to sum 1 and clipped to [epsilon, 1 - epsilon]; their log is handed to
the kernel as logits. softmax(log q) = q, so the loss equals Keras's
-sum(y_true * log q) (to ~1e-7 where clipping bites). from_logits=True is the fast,
exact path: end the model with a linear layer and use it.
label_smoothing (both losses; an extension for the sparse one):
target = (1 - s) * one_hot + s / C, as Keras and torch smooth.
"""

from __future__ import annotations

import keras
from keras import ops
from keras.src.backend import set_keras_mask  # what keras.losses uses for ignore_class

from twincore.frontends.keras.backend import impl


def _logits(loss: str, y_pred, from_logits: bool, axis: int):
    """y_pred as [M, C] logits (folding leading axes), and the leading shape."""
    rank = len(y_pred.shape)
    if axis not in (-1, rank - 1):
        raise ValueError(f"twincore.{loss}: argument 'axis': only the last axis (-1) is supported, got {axis!r}")
    if rank < 1:
        raise ValueError(f"twincore.{loss}: argument 'y_pred': expected [..., classes], got a scalar")
    if not from_logits:
        eps = keras.config.epsilon()
        p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        y_pred = ops.log(ops.clip(p, eps, 1.0 - eps))
    lead = ops.shape(y_pred)[:-1]
    return ops.reshape(y_pred, (-1, y_pred.shape[-1])), lead


class _CrossEntropy(keras.losses.Loss):
    def __init__(self, from_logits, label_smoothing, axis, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        s = float(label_smoothing)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"twincore.{type(self).__name__}: argument 'label_smoothing': expected a number "
                             f"in [0, 1], got {label_smoothing!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = s
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


@keras.saving.register_keras_serializable(package="twincore")
class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against integer class ids (ignore_class: ids that count 0)."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None, label_smoothing=0.0):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        name = type(self).__name__
        logits, lead = _logits(name, y_pred, self.from_logits, self.axis)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        valid = None
        if self.ignore_class is not None:
            valid = ops.not_equal(labels, self.ignore_class)
            labels = ops.where(valid, labels, 0)
        loss = impl.softmax_cross_entropy(logits, labels, self.label_smoothing)
        loss = ops.reshape(loss, lead)
        if valid is not None:
            valid = ops.reshape(valid, lead)
            loss = ops.where(valid, loss, ops.zeros_like(loss))
            # As Keras's own loss: the mask makes "sum_over_batch_size" count valid entries only.
            set_keras_mask(loss, valid)
        return loss

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="twincore")
class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy against one-hot / probability targets."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)

    def call(self, y_true, y_pred):
        logits, lead = _logits(type(self).__name__, y_pred, self.from_logits, self.axis)
        target = ops.reshape(ops.cast(y_true, logits.dtype), (-1, logits.shape[-1]))
        return ops.reshape(impl.softmax_cross_entropy(logits, target, self.label_smoothing), lead)


@keras.saving.register_keras_serializable(package="twincore")
class MeanSquaredError(keras.losses.Loss):
    """mean((y_pred - y_true)**2) over the last axis per sample, on the core's mse."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        per_elem = impl.mse(y_pred, y_true, "none")
        return ops.mean(per_elem, axis=-1)


@keras.saving.register_keras_serializable(package="twincore")
class BinaryCrossentropy(keras.losses.Loss):
    """keras.losses.BinaryCrossentropy on the core's fused binary_cross_entropy_with_logits.

    y_pred [..., C] logits (from_logits=True, the exact path) or probabilities (from_logits=False:
    clipped to [epsilon, 1 - epsilon] as Keras clips them, and handed to the kernel as the logits
    log(p) - log(1 - p), whose sigmoid is p); y_true like y_pred. label_smoothing s: y_true * (1 - s)
    + s / 2. The per-sample value is the mean over `axis` (the last), as Keras's; Keras then applies
    its reduction and sample weights."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        s = float(label_smoothing)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"twincore.BinaryCrossentropy: argument 'label_smoothing': expected a number in "
                             f"[0, 1], got {label_smoothing!r}")
        if axis != -1:
            raise ValueError(f"twincore.BinaryCrossentropy: argument 'axis': only the last axis (-1) is "
                             f"supported, got {axis!r}")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), s, axis

    def call(self, y_true, y_pred):
        if len(y_pred.shape) < 1:
            raise ValueError("twincore.BinaryCrossentropy: argument 'y_pred': expected [..., C], got a scalar")
        y_true = ops.cast(y_true, y_pred.dtype)
        if not self.from_logits:
            eps = keras.config.epsilon()
            p = ops.clip(y_pred, eps, 1.0 - eps)
            y_pred = ops.log(p) - ops.log(1.0 - p)
        loss = impl.binary_cross_entropy_with_logits(y_pred, y_true, self.label_smoothing, "none")
        # The mean as sum / C: Keras's ops.mean on JAX computes in float32 even for float64 inputs
        # (result_type(x, "float32")), which would round float64 losses to ~1e-8.
        return ops.sum(loss, axis=-1) / ops.cast(ops.shape(loss)[-1], loss.dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}
