"""twincore.jax.mse: parity with the NumPy reference and jnp, float64 gradients (pred and
target), jit == eager, vmap, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import mse as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_parity(reduction, dtype):
    rng = np.random.default_rng(9)
    p, t = rand(rng, (6, 5), dtype), rand(rng, (6, 5), dtype)
    f = lambda p, t: tj.mse(p, t, reduction)  # noqa: E731
    theirs = {"mean": lambda p, t: jnp.mean((p - t) ** 2), "sum": lambda p, t: jnp.sum((p - t) ** 2),
              "none": lambda p, t: (p - t) ** 2}[reduction]
    y = jit_equal(f, p, t)
    np.testing.assert_allclose(y, R.mse(p, t, reduction), **TOL[dtype])
    np.testing.assert_allclose(y, theirs(p, t), **TOL[dtype])
    g = rand(rng, np.shape(y), dtype)
    for o, r in zip(jax.vjp(f, p, t)[1](g), jax.vjp(theirs, p, t)[1](g)):
        np.testing.assert_allclose(o, r, **TOL[dtype])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradients_float64(reduction):
    rng = np.random.default_rng(10)
    grads(lambda p, t: tj.mse(p, t, reduction), (rand(rng, (4, 3)), rand(rng, (4, 3))))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_vmap(reduction):
    rng = np.random.default_rng(11)
    p, t = rand(rng, (3, 4, 5), np.float32), rand(rng, (3, 4, 5), np.float32)
    ys = jax.vmap(lambda p, t: tj.mse(p, t, reduction))(p, t)
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.mse(p[i], t[i], reduction))


def test_bad_input_names_op_and_argument():
    p = np.ones((3, 2), np.float32)
    with raises(ValueError, "mse", "target"):
        tj.mse(p, np.ones((2, 3), np.float32))
    with raises(TypeError, "mse", "target"):
        tj.mse(p, p.astype(np.float64))
    with raises(ValueError, "mse", "reduction"):
        tj.mse(p, p, "avg")
