"""twincore.jax.conv2d: parity with the NumPy float64 reference and jax.lax's conv, float64
gradients, jit == eager, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import conv2d as R

from jax_testutil import TOL, grads, jit_equal, raises, rand

CASES = [  # (N, C, H, W, O, K, stride, padding, dilation, fused activation)
    (2, 3, 9, 8, 4, 3, 1, "same", 1, "relu"),
    (2, 2, 10, 9, 3, 3, 2, "same", 1, None),
    (1, 3, 9, 9, 2, 3, 1, "valid", 2, "tanh"),
    (2, 4, 7, 8, 5, 2, 2, 1, 1, None),
]


def _lax(x, w, b, stride, padding, dilation, layout, act):
    dn = ("NHWC", "HWIO", "NHWC") if layout == "NHWC" else ("NCHW", "OIHW", "NCHW")
    pad = padding.upper() if isinstance(padding, str) else [(padding, padding)] * 2
    y = jax.lax.conv_general_dilated(x, w, (stride, stride), pad, rhs_dilation=(dilation, dilation),
                                     dimension_numbers=dn, precision="highest")
    y = y + (b if layout == "NHWC" else b[:, None, None])
    return {None: y, "relu": jax.nn.relu(y), "tanh": jnp.tanh(y)}[act]


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", CASES)
def test_forward_backward_parity(case, layout, dtype):
    n, c, h, w_, o, k, s, p, d, act = case
    rng = np.random.default_rng(hash((case, layout)) % 2**32)
    x = rand(rng, (n, h, w_, c) if layout == "NHWC" else (n, c, h, w_), dtype)
    w = rand(rng, (k, k, c, o) if layout == "NHWC" else (o, c, k, k), dtype)
    b = rand(rng, (o,), dtype)
    kw = dict(stride=s, padding=p, dilation=d, layout=layout)

    def f(x, w, b):
        return tj.conv2d(x, w, b, activation=act, **kw)

    y = jit_equal(f, x, w, b)
    assert y.dtype == dtype
    ref = R.conv2d(x, w, b, **kw)
    ref = {None: ref, "relu": np.maximum(ref, 0), "tanh": np.tanh(ref)}[act]
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    np.testing.assert_allclose(y, _lax(x, w, b, s, p, d, layout, act), **TOL[dtype])

    g = rand(rng, y.shape, dtype)
    ours = jax.vjp(f, x, w, b)[1](g)
    theirs = jax.vjp(lambda x, w, b: _lax(x, w, b, s, p, d, layout, act), x, w, b)[1](g)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, **TOL[dtype])
    if act is None:  # the reference's backward (no activation)
        for a, r in zip(ours, R.conv2d_backward(g, x, w, **kw)):
            np.testing.assert_allclose(a, r, **TOL[dtype])


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_gradients_float64(layout):
    rng = np.random.default_rng(1)
    x = rand(rng, (2, 6, 5, 3) if layout == "NHWC" else (2, 3, 6, 5))
    w = rand(rng, (3, 3, 3, 2) if layout == "NHWC" else (2, 3, 3, 3))
    b = rand(rng, (2,))
    grads(lambda x, w, b: tj.conv2d(x, w, b, stride=2, padding="same", layout=layout, activation="tanh"), (x, w, b))
    grads(lambda x, w: tj.conv2d(x, w, padding=1, dilation=2, layout=layout), (x, w))


def test_grad_under_jit_and_vmap():
    rng = np.random.default_rng(2)
    x, w = rand(rng, (3, 2, 6, 6, 2), np.float32), rand(rng, (3, 3, 2, 4), np.float32)

    def loss(w, x):
        return (tj.conv2d(x, w, padding="same", layout="NHWC", activation="relu") ** 2).sum()

    g_eager = jax.grad(loss)(w, x[0])
    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(w, x[0]), g_eager)
    # vmap (sequential): one call per batch entry, the same as calling each
    ys = jax.vmap(lambda x: tj.conv2d(x, w, layout="NHWC"))(x)
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.conv2d(x[i], w, layout="NHWC"))


def test_bad_input_names_op_and_argument():
    x = np.ones((2, 5, 5, 3), np.float32)
    w = np.ones((3, 3, 3, 4), np.float32)
    with raises(ValueError, "conv2d", "w"):
        tj.conv2d(x, np.ones((3, 3, 2, 4), np.float32), layout="NHWC")  # channels differ
    with raises(ValueError, "conv2d", "bias"):
        tj.conv2d(x, w, np.ones(3, np.float32), layout="NHWC")
    with raises(ValueError, "conv2d", "stride"):
        tj.conv2d(x, w, stride=0, layout="NHWC")
    with raises(ValueError, "conv2d", "padding"):
        tj.conv2d(x, w, padding="full", layout="NHWC")
    with raises(ValueError, "conv2d", "layout"):
        tj.conv2d(x, w, layout="NWHC")
    with raises(ValueError, "conv2d", "activation"):
        tj.conv2d(x, w, layout="NHWC", activation="gelu")
    with raises(TypeError, "conv2d", "w"):
        tj.conv2d(x, w.astype(np.float64), layout="NHWC")
    with raises(TypeError, "conv2d", "x"):
        tj.conv2d(x.astype(np.int32), w.astype(np.int32), layout="NHWC")
    with raises(ValueError, "conv2d", "x"):
        tj.conv2d(x[0], w, layout="NHWC")
    with raises(ValueError, "conv2d", "w"):  # under jit too: the plan runs at trace time
        jax.jit(lambda x, w: tj.conv2d(x, w, layout="NHWC"))(np.ones((1, 2, 2, 3), np.float32), w)
