"""twincore.jax.matmul / dense: parity with the NumPy float64 reference and jnp.matmul,
float64 gradients, jit == eager, vmap, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import matmul as R

from jax_testutil import TOL, grads, jit_equal, raises, rand

CASES = [  # (a shape, b shape, trans_a, trans_b)
    ((5, 7), (7, 3), False, False),
    ((7, 5), (3, 7), True, True),
    ((4, 6, 5), (5, 3), False, False),
    ((2, 5, 6), (2, 3, 5), True, True),
]


def _act(y, act):
    return {None: y, "relu": jax.nn.relu(y), "tanh": jnp.tanh(y)}[act]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("act", [None, "relu", "tanh"])
def test_parity(case, act, dtype):
    sa, sb, ta, tb = case
    rng = np.random.default_rng(3)
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    n = sb[-2] if tb else sb[-1]
    bias = rand(rng, (n,), dtype)

    def f(a, b, bias):
        return tj.matmul(a, b, bias, trans_a=ta, trans_b=tb, activation=act)

    def theirs(a, b, bias):
        op = lambda x, t: jnp.swapaxes(x, -1, -2) if t else x  # noqa: E731
        return _act(jnp.matmul(op(a, ta), op(b, tb), precision="highest") + bias, act)

    y = jit_equal(f, a, b, bias)
    ref = R.matmul(a, b, bias, ta, tb)
    np.testing.assert_allclose(y, {None: ref, "relu": np.maximum(ref, 0), "tanh": np.tanh(ref)}[act], **TOL[dtype])
    np.testing.assert_allclose(y, theirs(a, b, bias), **TOL[dtype])
    g = rand(rng, y.shape, dtype)
    for o, t in zip(jax.vjp(f, a, b, bias)[1](g), jax.vjp(theirs, a, b, bias)[1](g)):
        np.testing.assert_allclose(o, t, **TOL[dtype])
    if act is None:
        da, db = R.matmul_backward(g, a, b, ta, tb)[:2]
        gs = jax.vjp(f, a, b, bias)[1](g)
        np.testing.assert_allclose(gs[0], da, **TOL[dtype])
        np.testing.assert_allclose(gs[1], db, **TOL[dtype])


def test_gradients_float64():
    rng = np.random.default_rng(4)
    a, b, bias = rand(rng, (4, 5)), rand(rng, (5, 3)), rand(rng, (3,))
    grads(lambda a, b, bias: tj.dense(a, b, bias, "tanh"), (a, b, bias))
    grads(lambda a, b: tj.matmul(a, b, trans_a=True, trans_b=True), (a.T.copy(), b.T.copy()))
    grads(lambda a, b: tj.matmul(a, b), (rand(rng, (2, 4, 5)), b))  # shared 2-D b


def test_vmap_sequential():
    rng = np.random.default_rng(5)
    a, b = rand(rng, (3, 4, 5), np.float32), rand(rng, (5, 2), np.float32)
    ys = jax.vmap(lambda a: tj.dense(a, b, activation="relu"))(a)
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.dense(a[i], b, activation="relu"))


def test_bad_input_names_op_and_argument():
    a, b = np.ones((4, 5), np.float32), np.ones((5, 3), np.float32)
    with raises(ValueError, "matmul", "b"):
        tj.matmul(a, np.ones((4, 3), np.float32))
    with raises(ValueError, "matmul", "bias"):
        tj.matmul(a, b, np.ones(4, np.float32))
    with raises(TypeError, "matmul", "b"):
        tj.matmul(a, b.astype(np.float64))
    with raises(ValueError, "matmul", "a"):
        tj.matmul(np.ones(5, np.float32), b)
    with raises(ValueError, "matmul", "activation"):
        tj.dense(a, b, activation="swish")
    with raises(TypeError, "matmul", "activation"):
        tj.dense(a, b, activation=1)
    with raises(TypeError, "matmul", "a"):
        tj.matmul(a.astype(np.int32), b.astype(np.int32))
