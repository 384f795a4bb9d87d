"""twincore.jax.max_pool2d: parity with the NumPy reference and jax.lax.reduce_window,
float64 gradients, jit == eager, vmap, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import max_pool2d as R

from jax_testutil import TOL, grads, jit_equal, raises, rand

CASES = [(2, 2, 0), (3, 2, 1), (3, 3, "same"), (2, 1, "valid")]  # (kernel, stride, padding)


def _lax(x, k, s, p, layout):
    win = (1, k, k, 1) if layout == "NHWC" else (1, 1, k, k)
    st = (1, s, s, 1) if layout == "NHWC" else (1, 1, s, s)
    if isinstance(p, str):
        pad = p.upper()
    else:
        sp = [(0, 0), (p, p), (p, p), (0, 0)] if layout == "NHWC" else [(0, 0), (0, 0), (p, p), (p, p)]
        pad = sp
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, win, st, pad)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", CASES)
def test_parity(case, layout, dtype):
    k, s, p = case
    rng = np.random.default_rng(15)
    x = rand(rng, (2, 9, 8, 3) if layout == "NHWC" else (2, 3, 9, 8), dtype)
    f = lambda x: tj.max_pool2d(x, k, s, p, layout)  # noqa: E731
    y = jit_equal(f, x)
    ref_y, ref_i = R.max_pool2d(x, k, s, p, layout)
    np.testing.assert_array_equal(y, ref_y.astype(dtype))
    np.testing.assert_array_equal(y, _lax(x, k, s, p, layout))
    g = rand(rng, y.shape, dtype)
    dx = jax.vjp(f, x)[1](g)[0]
    np.testing.assert_allclose(dx, R.max_pool2d_backward(g, ref_i, x.shape, layout), **TOL[dtype])
    np.testing.assert_allclose(dx, jax.vjp(lambda x: _lax(x, k, s, p, layout), x)[1](g)[0], **TOL[dtype])


def test_gradients_float64():
    x = rand(np.random.default_rng(16), (2, 6, 6, 2))
    grads(lambda x: tj.max_pool2d(x, 3, 2, 1, "NHWC"), (x,))
    grads(lambda x: tj.max_pool2d(x, 2, layout="NCHW"), (x,))


def test_vmap_and_grad_under_jit():
    x = rand(np.random.default_rng(17), (3, 2, 6, 6, 2), np.float32)
    ys = jax.vmap(lambda x: tj.max_pool2d(x, 2, layout="NHWC"))(x)
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.max_pool2d(x[i], 2, layout="NHWC"))
    f = jax.grad(lambda x: (tj.max_pool2d(x, 2, layout="NHWC") ** 2).sum())
    np.testing.assert_array_equal(jax.jit(f)(x[0]), f(x[0]))


def test_bad_input_names_op_and_argument():
    x = np.ones((1, 4, 4, 2), np.float32)
    with raises(ValueError, "max_pool2d", "kernel_size"):
        tj.max_pool2d(x, 5, layout="NHWC")
    with raises(ValueError, "max_pool2d", "stride"):
        tj.max_pool2d(x, 2, 0, layout="NHWC")
    with raises(ValueError, "max_pool2d", "padding"):
        tj.max_pool2d(x, 2, 1, 2, layout="NHWC")  # more than half the kernel
    with raises(ValueError, "max_pool2d", "x"):
        tj.max_pool2d(x[0], 2, layout="NHWC")
    with raises(ValueError, "max_pool2d", "layout"):
        tj.max_pool2d(x, 2, layout="HWC")
