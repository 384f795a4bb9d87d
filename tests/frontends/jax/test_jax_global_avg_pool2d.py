"""twincore.jax.global_avg_pool2d: parity with the NumPy reference and jnp.mean, float64
gradients, jit == eager, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import global_avg_pool2d as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_parity(layout, dtype):
    rng = np.random.default_rng(18)
    x = rand(rng, (3, 5, 7, 4), dtype)
    f = lambda x: tj.global_avg_pool2d(x, layout)  # noqa: E731
    axes = (1, 2) if layout == "NHWC" else (2, 3)
    y = jit_equal(f, x)
    np.testing.assert_allclose(y, R.global_avg_pool2d(x, layout), **TOL[dtype])
    np.testing.assert_allclose(y, jnp.mean(x, axes), **TOL[dtype])
    g = rand(rng, y.shape, dtype)
    dx = jax.vjp(f, x)[1](g)[0]
    np.testing.assert_allclose(dx, R.global_avg_pool2d_backward(g, x.shape, layout), **TOL[dtype])
    np.testing.assert_allclose(dx, jax.vjp(lambda x: jnp.mean(x, axes), x)[1](g)[0], **TOL[dtype])


def test_gradients_float64():
    grads(lambda x: tj.global_avg_pool2d(x, "NHWC"), (rand(np.random.default_rng(19), (2, 3, 4, 5)),))


def test_bad_input_names_op_and_argument():
    with raises(ValueError, "global_avg_pool2d", "x"):
        tj.global_avg_pool2d(np.ones((2, 3, 4), np.float32), "NHWC")
    with raises(TypeError, "global_avg_pool2d", "x"):
        tj.global_avg_pool2d(np.ones((2, 3, 4, 1), np.int32), "NHWC")
    with raises(ValueError, "global_avg_pool2d", "layout"):
        tj.global_avg_pool2d(np.ones((2, 3, 4, 1), np.float32), "CHWN")
