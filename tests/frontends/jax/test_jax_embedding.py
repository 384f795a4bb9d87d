"""twincore.jax.embedding: parity with the NumPy reference and jnp.take (forward and the
weight's gradient, repeated ids summed), padding_idx, float64 gradients, jit == eager,
ids out of range found when the kernel runs, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import embedding as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


@pytest.mark.parametrize("ids_shape", [(5,), (3, 7), (2, 3, 4)])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_parity(ids_shape, id_dtype, dtype):
    rng = np.random.default_rng(31)
    V, D = 9, 6
    ids = rng.integers(0, V, ids_shape).astype(id_dtype)  # repeats: the backward sums them
    w = rand(rng, (V, D), dtype)

    def f(w):
        return tj.embedding(ids, w)

    y = jit_equal(f, w)
    assert y.shape == ids_shape + (D,) and y.dtype == dtype
    np.testing.assert_array_equal(y, R.embedding(ids, w).astype(dtype))
    np.testing.assert_array_equal(y, jnp.take(w, ids, axis=0))
    g = rand(rng, y.shape, dtype)
    dw = jax.vjp(f, w)[1](g)[0]
    np.testing.assert_allclose(dw, R.embedding_backward(g, ids, V), **TOL[dtype])
    np.testing.assert_allclose(dw, jax.vjp(lambda w: jnp.take(w, ids, axis=0), w)[1](g)[0], **TOL[dtype])


def test_padding_idx_row_gets_no_gradient():
    rng = np.random.default_rng(32)
    ids, w = np.array([[0, 2, 4], [4, 1, 2]], np.int32), rand(rng, (5, 3))
    g = rand(rng, (2, 3, 3))
    for pad, row in ((2, 2), (-1, 4)):  # a negative index counts from the end (torch's rule)
        dw = jax.vjp(lambda w: tj.embedding(ids, w, padding_idx=pad), w)[1](g)[0]
        np.testing.assert_allclose(dw, R.embedding_backward(g, ids, 5, row), rtol=1e-12)
        assert not np.asarray(dw[row]).any()


def test_gradients_float64_and_jit():
    rng = np.random.default_rng(33)
    ids, w = rng.integers(0, 6, (4, 3)).astype(np.int32), rand(rng, (6, 4))
    grads(lambda w: tj.embedding(ids, w), (w,))
    loss = lambda w: (tj.embedding(ids, w) ** 2).sum()  # noqa: E731
    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(w), jax.grad(loss)(w))
    # ids are traced too under jit (the same compiled call serves any ids of that shape)
    np.testing.assert_array_equal(jax.jit(tj.embedding)(ids[::-1], w), np.asarray(w)[ids[::-1]])


def test_vmap_sequential():
    rng = np.random.default_rng(34)
    ids, w = rng.integers(0, 5, (3, 4)).astype(np.int32), rand(rng, (5, 2), np.float32)
    np.testing.assert_array_equal(jax.vmap(lambda i: tj.embedding(i, w))(ids), tj.embedding(ids, w))


def test_bad_input_names_op_and_argument():
    w = np.ones((4, 3), np.float32)
    with raises(TypeError, "embedding", "ids"):
        tj.embedding(np.zeros(3, np.float32), w)
    with raises(ValueError, "embedding", "weight"):
        tj.embedding(np.zeros(3, np.int32), np.ones(4, np.float32))
    with raises(ValueError, "embedding", "padding_idx"):
        tj.embedding(np.zeros(3, np.int32), w, padding_idx=4)
    with raises(TypeError, "embedding", "padding_idx"):
        tj.embedding(np.zeros(3, np.int32), w, padding_idx=1.5)
    # values are checked by the kernel when it runs: an XLA runtime error with the core's text
    with pytest.raises(Exception, match=r"twincore\.embedding.*argument 'ids'"):
        np.asarray(tj.embedding(np.array([0, 4], np.int32), w))
