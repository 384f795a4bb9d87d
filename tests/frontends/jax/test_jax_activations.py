"""twincore.jax relu / tanh / sigmoid / softmax: parity with the NumPy reference and jax.nn, float64
gradients, jit == eager, vmap in one call (broadcast_all), bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import activations as RA
from twincore.kernels.reference import softmax as RS

from jax_testutil import TOL, grads, jit_equal, raises, rand

OPS = {"relu": (tj.relu, RA.relu, jax.nn.relu), "tanh": (tj.tanh, RA.tanh, jnp.tanh),
       "softmax": (tj.softmax, RS.softmax, jax.nn.softmax), "sigmoid": (tj.sigmoid, RA.sigmoid, jax.nn.sigmoid)}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("shape", [(7,), (4, 9), (2, 3, 33)])
def test_parity(name, shape, dtype):
    ours, ref, theirs = OPS[name]
    rng = np.random.default_rng(6)
    x = rand(rng, shape, dtype) * 3
    y = jit_equal(ours, x)
    np.testing.assert_allclose(y, ref(x), **TOL[dtype])
    np.testing.assert_allclose(y, theirs(x), **TOL[dtype])
    g = rand(rng, shape, dtype)
    np.testing.assert_allclose(jax.vjp(ours, x)[1](g)[0], jax.vjp(theirs, x)[1](g)[0], **TOL[dtype])


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradients_float64(name):
    x = rand(np.random.default_rng(7), (3, 5))
    grads(OPS[name][0], (x,))


@pytest.mark.parametrize("name", sorted(OPS))
def test_vmap_and_grad_under_jit(name):
    ours = OPS[name][0]
    x = rand(np.random.default_rng(8), (3, 4, 6), np.float32)
    np.testing.assert_array_equal(jax.vmap(ours)(x), ours(x))  # rows stay rows
    g = jax.jit(jax.grad(lambda x: (ours(x) ** 2).sum()))(x)
    np.testing.assert_array_equal(g, jax.grad(lambda x: (ours(x) ** 2).sum())(x))


def test_bad_input_names_op_and_argument():
    with raises(TypeError, "relu", "x"):
        tj.relu(np.ones(3, np.int32))
    with raises(ValueError, "tanh", "x"):
        tj.tanh(np.ones((0, 3), np.float32))
    with raises(ValueError, "softmax", "x"):
        tj.softmax(np.float32(1.0))
    with raises(TypeError, "sigmoid", "x"):
        tj.sigmoid(np.ones(3, np.int32))
