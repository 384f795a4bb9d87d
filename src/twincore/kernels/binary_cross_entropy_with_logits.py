"""Fused binary cross-entropy from logits: the loss and its gradient in one pass.

logits, targets: any shape (the same), float32/float64; targets in [0, 1]. pos_weight: None,
or [C] (C = the logits' last axis) / [1] weights of the positive term (torch's pos_weight).
label_smoothing s in [0, 1]: target = (1 - s) * target + s / 2 (Keras's rule). reduction
"mean" (over every element) | "sum" -> 0-d loss, "none" -> the logits' shape. dlogits is
d loss / d logits of the reduced loss (for "none", elementwise). Stable for logits of +-1e4.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def binary_cross_entropy_with_logits(logits, targets, pos_weight=None, label_smoothing: float = 0.0,
                                     reduction: str = "mean", need_dlogits: bool = True):
    """Return (loss, dlogits) of the logits' kind and dtype (dlogits None with need_dlogits=False)."""
    logits, kind = prepare(logits)
    return kind.wrap(_core.binary_cross_entropy_with_logits(logits, to_core(targets), to_core(pos_weight),
                                                            label_smoothing, reduction, bool(need_dlogits),
                                                            kind.alloc))
