"""embedding as a TF op: rows of embeddings [V, D] picked by integer ids of any shape S
-> S + (D,). Differentiable w.r.t. embeddings (the core's deterministic scatter-add,
a dense [V, D] gradient); ids are data."""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def embedding(ids, embeddings) -> tf.Tensor:
    ids = tensor(ids, "embedding", "ids", dtypes=(tf.int32, tf.int64))
    w = tensor(embeddings, "embedding", "weight", rank=2)
    V = w.shape[0]
    out = [(w.dtype, ids.shape.concatenate([w.shape[1]]))]

    @tf.custom_gradient
    def f(w):
        y = call(lambda ids, w: K.embedding(ids, w), [ids, w], out)
        return y, lambda dy: call(lambda dy, ids: K.embedding_backward(dy, ids, V), [dy, ids], [(w.dtype, w.shape)])

    return f(w)
