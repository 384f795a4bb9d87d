"""Embedding lookup: a row gather, and its deterministic scatter-add backward.

ids: int32/int64 of any shape S, each in [0, V) (anything else: ValueError naming 'ids').
weight: [V, D] float32/float64. Output: S + (D,), of the weight's kind and dtype.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def embedding(ids, weight):
    """out[..., :] = weight[ids[...], :]."""
    weight, kind = prepare(weight)
    return kind.wrap(_core.embedding(to_core(ids), weight, kind.alloc))


def embedding_backward(grad, ids, num_embeddings: int, padding_idx: int | None = None):
    """dweight [V, D]: the rows of grad (S + (D,)) summed per id, in the order they occur in ids
    (the same bits every run). Row padding_idx (torch's option; negative counts from V) stays 0."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.embedding_backward(grad, to_core(ids), int(num_embeddings), padding_idx, kind.alloc))
