"""twincore.jax.binary_cross_entropy_with_logits: parity with the NumPy float64 reference and
an optax-free JAX formula (jax.nn.log_sigmoid) for every reduction, pos_weight and label
smoothing, float64 gradients, jit == eager, stable for logits of +-1e4, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import binary_cross_entropy_with_logits as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


def _jax(x, y, pw, s, reduction):
    y = y * (1 - s) + 0.5 * s
    p = 1.0 if pw is None else pw
    loss = -(p * y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("pos_weight,smoothing", [(False, 0.0), (True, 0.1), (False, 0.2)])
def test_parity(reduction, pos_weight, smoothing, dtype):
    rng = np.random.default_rng(21)
    x = rand(rng, (6, 5), dtype) * 3
    y = (rng.random((6, 5)) > 0.5).astype(dtype)
    pw = rng.uniform(0.5, 2.0, 5).astype(dtype) if pos_weight else None

    def f(x):
        return tj.binary_cross_entropy_with_logits(x, y, pw, smoothing, reduction)

    loss = jit_equal(f, x)
    assert loss.dtype == dtype
    ref_loss, ref_grad = R.binary_cross_entropy_with_logits(x, y, pw, smoothing, reduction)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    np.testing.assert_allclose(loss, _jax(x, y, pw, smoothing, reduction), **TOL[dtype])
    g = rand(rng, loss.shape, dtype)
    dx = jax.vjp(f, x)[1](g)[0]
    np.testing.assert_allclose(dx, ref_grad * g, **TOL[dtype])
    np.testing.assert_allclose(dx, jax.vjp(lambda x: _jax(x, y, pw, smoothing, reduction), x)[1](g)[0],
                               **TOL[dtype])


def test_gradients_float64_and_targets_are_constants():
    rng = np.random.default_rng(22)
    x, y = rand(rng, (4, 3)), rng.random((4, 3))
    pw = np.array([0.5, 1.0, 2.0])
    grads(lambda x: tj.binary_cross_entropy_with_logits(x, y, pw, 0.1, "mean"), (x,))
    grads(lambda x: tj.binary_cross_entropy_with_logits(x, y, reduction="none"), (x,))
    dy = jax.grad(lambda y: tj.binary_cross_entropy_with_logits(x, y))(y)
    np.testing.assert_array_equal(dy, np.zeros_like(y))  # declared: no gradient for targets


def test_large_logits_stay_finite():
    x = np.array([[1e4, -1e4, 0.0]], np.float32)
    y = np.array([[0.0, 1.0, 1.0]], np.float32)
    loss, dx = jax.value_and_grad(lambda x: tj.binary_cross_entropy_with_logits(x, y, reduction="sum"))(x)
    np.testing.assert_allclose(loss, 2e4 + np.log(2), rtol=1e-6)
    np.testing.assert_allclose(dx, [[1.0, -1.0, -0.5]], rtol=1e-6)


def test_vmap_and_jit():
    rng = np.random.default_rng(23)
    x, y = rand(rng, (3, 4, 5), np.float32), (rng.random((3, 4, 5)) > 0.5).astype(np.float32)
    f = jax.vmap(lambda x, y: tj.binary_cross_entropy_with_logits(x, y, reduction="none"))
    np.testing.assert_array_equal(f(x, y), tj.binary_cross_entropy_with_logits(x, y, reduction="none"))
    means = jax.vmap(lambda x, y: tj.binary_cross_entropy_with_logits(x, y))(x, y)  # sequential: one mean each
    np.testing.assert_allclose(means, [tj.binary_cross_entropy_with_logits(a, b) for a, b in zip(x, y)], rtol=1e-6)
    np.testing.assert_array_equal(jax.jit(jax.grad(lambda x: tj.binary_cross_entropy_with_logits(x, y)))(x),
                                  jax.grad(lambda x: tj.binary_cross_entropy_with_logits(x, y))(x))


def test_bad_input_names_op_and_argument():
    x = np.ones((2, 3), np.float32)
    with raises(ValueError, "binary_cross_entropy_with_logits", "targets"):
        tj.binary_cross_entropy_with_logits(x, np.ones((3, 2), np.float32))
    with raises(ValueError, "binary_cross_entropy_with_logits", "reduction"):
        tj.binary_cross_entropy_with_logits(x, x, reduction="max")
    with raises(TypeError, "binary_cross_entropy_with_logits", "label_smoothing"):
        tj.binary_cross_entropy_with_logits(x, x, label_smoothing="some")
    with raises(ValueError, "binary_cross_entropy_with_logits", "pos_weight"):
        tj.binary_cross_entropy_with_logits(x, x, jnp.ones(2, np.float32))
