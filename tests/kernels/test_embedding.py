import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import embedding as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_tf, requires_torch


@pytest.mark.parametrize("shape,V,D", [((7,), 5, 3), ((4, 9), 17, 33), ((2, 3, 5), 300, 128), ((), 3, 1)])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_parity_with_reference(shape, V, D, id_dtype, dtype, isa):
    ids = np.random.default_rng(V).integers(0, V, size=shape).astype(id_dtype)
    w = randn((V, D), dtype, seed=D)
    g = randn(shape + (D,), dtype, seed=D + 1)
    out = K.embedding(ids, w)
    assert out.dtype == dtype and out.shape == shape + (D,)
    np.testing.assert_array_equal(out, w[ids])  # a gather is exact
    assert_close(K.embedding_backward(g, ids, V), ref.embedding_backward(g, ids, V), **tol(dtype))
    assert_close(K.embedding_backward(g, ids, V, padding_idx=1), ref.embedding_backward(g, ids, V, 1), **tol(dtype))


def test_backward_sums_repeats_deterministically():
    # Many repeats of few ids across threads: same bits every call, in ids' order.
    ids = np.random.default_rng(0).integers(0, 4, size=(5000,))
    g = randn((5000, 64), np.float32, seed=3)
    first = K.embedding_backward(g, ids, 4)
    for _ in range(3):
        np.testing.assert_array_equal(K.embedding_backward(g, ids, 4), first)
    want = np.zeros((4, 64), np.float32)
    for k, i in enumerate(ids):  # sequential float32 sum in ids' order
        want[i] += g[k]
    np.testing.assert_array_equal(first, want)


def test_gradcheck():
    ids = np.array([[0, 2, 2], [1, 0, 4]])
    w = randn((5, 3), np.float64, seed=1)
    c = randn((2, 3, 3), np.float64, seed=2)
    check_grads(lambda: float((K.embedding(ids, w) * c).sum()), [w], [K.embedding_backward(c, ids, 5)],
                names=["embedding.weight"])


@requires_torch
def test_torch_parity():
    import torch

    ids = torch.randint(0, 50, (8, 11))
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.embedding(ids, w, padding_idx=3)
    g = torch.randn_like(out)
    out.backward(g)
    ours = K.embedding(ids, w.detach())
    assert isinstance(ours, torch.Tensor)
    torch.testing.assert_close(ours, out.detach())
    torch.testing.assert_close(K.embedding_backward(g, ids, 50, padding_idx=3), w.grad)


@requires_tf
def test_keras_parity():
    import keras
    import tensorflow as tf

    layer = keras.layers.Embedding(40, 6)
    ids = np.random.default_rng(1).integers(0, 40, size=(3, 7)).astype(np.int32)
    want = np.asarray(layer(ids))
    got = K.embedding(tf.constant(ids), tf.constant(np.asarray(layer.embeddings)))
    assert isinstance(got, tf.Tensor)
    np.testing.assert_array_equal(got.numpy(), want)


def test_bad_input():
    run_bad_calls([
        ("K.embedding(np.array([0, 5]), np.ones((5, 2)))", "ValueError", "embedding", "ids"),
        ("K.embedding(np.array([-1]), np.ones((5, 2)))", "ValueError", "embedding", "ids"),
        ("K.embedding(np.array([0.0]), np.ones((5, 2)))", "TypeError", "embedding", "ids"),
        ("K.embedding(np.zeros(0, np.int64), np.ones((5, 2)))", "ValueError", "embedding", "ids"),
        ("K.embedding(np.array([0]), np.ones(5))", "ValueError", "embedding", "weight"),
        ("K.embedding(np.array([0]), np.ones((5, 2), np.int32))", "TypeError", "embedding", "weight"),
        ("K.embedding(np.array([0]), np.ones((0, 2)))", "ValueError", "embedding", "weight"),
        ("K.embedding_backward(np.ones((2, 3)), np.array([0, 1, 2]), 4)", "ValueError", "embedding_backward", "grad"),
        ("K.embedding_backward(np.ones((2, 3)), np.array([0, 9]), 4)", "ValueError", "embedding_backward", "ids"),
        ("K.embedding_backward(np.ones((2, 3)), np.array([0, 1]), 0)", "ValueError", "embedding_backward",
         "num_embeddings"),
        ("K.embedding_backward(np.ones((2, 3)), np.array([0, 1]), 4, 7)", "ValueError", "embedding_backward",
         "padding_idx"),
    ])
