"""twincore.jax.leaky_relu: parity with the NumPy reference and jax.nn.leaky_relu (several
slopes, a negative one too), float64 gradients, jit == eager, vmap in one call, bad input named."""
import jax
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import activations as RA

from jax_testutil import TOL, grads, jit_equal, raises, rand


@pytest.mark.parametrize("slope", [0.01, 0.3, -0.5])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 9)])
def test_parity(slope, shape, dtype):
    rng = np.random.default_rng(11)
    x = rand(rng, shape, dtype) * 3

    def f(x):
        return tj.leaky_relu(x, slope)

    y = jit_equal(f, x)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_allclose(y, RA.leaky_relu(x, slope), **TOL[dtype])
    np.testing.assert_allclose(y, jax.nn.leaky_relu(x, slope), **TOL[dtype])
    g = rand(rng, shape, dtype)
    dx = jax.vjp(f, x)[1](g)[0]
    np.testing.assert_allclose(dx, RA.leaky_relu_backward(g, x, slope), **TOL[dtype])
    np.testing.assert_allclose(dx, jax.vjp(lambda x: jax.nn.leaky_relu(x, slope), x)[1](g)[0], **TOL[dtype])


def test_gradients_float64_and_default_slope():
    x = rand(np.random.default_rng(12), (4, 6))
    grads(lambda x: tj.leaky_relu(x, 0.2), (x,))
    np.testing.assert_array_equal(tj.leaky_relu(x), RA.leaky_relu(x, 0.01))  # torch's default


def test_vmap_and_grad_under_jit():
    x = rand(np.random.default_rng(13), (3, 4, 5), np.float32)
    np.testing.assert_array_equal(jax.vmap(lambda x: tj.leaky_relu(x, 0.3))(x), tj.leaky_relu(x, 0.3))

    def loss(x):
        return (tj.leaky_relu(x, 0.3) ** 2).sum()

    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(x), jax.grad(loss)(x))


def test_bad_input_names_op_and_argument():
    with raises(TypeError, "leaky_relu", "x"):
        tj.leaky_relu(np.ones(3, np.int32))
    with raises(TypeError, "leaky_relu", "negative_slope"):
        tj.leaky_relu(np.ones(3, np.float32), "a lot")
    with raises(ValueError, "leaky_relu", "negative_slope"):
        tj.leaky_relu(np.ones(3, np.float32), float("nan"))
