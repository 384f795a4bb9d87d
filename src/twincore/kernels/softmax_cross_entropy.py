"""Fused softmax cross-entropy: the loss and its gradient from one visit per row.

logits: [N, C] float32/float64. labels: [N] int32/int64 class ids in [0, C), or [N, C]
probabilities / one-hot of the logits' dtype. label_smoothing s in [0, 1]:
target = (1 - s) * target + s / C (torch's and Keras's rule). reduction "mean" | "sum" |
"none": loss is 0-d for mean/sum, [N] for none. dlogits [N, C] is d loss / d logits of
the reduced loss (for "none", row i is d loss_i / d logits_i). Stable for logits of +-1e4.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0, reduction: str = "mean"):
    """Return (loss, dlogits), both of the logits' kind and dtype."""
    logits, kind = prepare(logits)
    return kind.wrap(_core.softmax_cross_entropy(logits, to_core(labels), label_smoothing, reduction,
                                                 True, kind.alloc))
