"""twincore.jax batch_norm / batch_norm_inference / batch_norm_update_stats: parity with the
NumPy float64 reference and a jax.numpy formula (outputs, statistics and gradients) on [N, C],
NCHW and NHWC, float64 gradients (training and inference), the statistics carry no gradient,
jit == eager, bad input named."""
import jax
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import batch_norm as R

from jax_testutil import TOL, grads, jit_equal, raises, rand

SHAPES = [((6, 4), "NHWC"), ((3, 4, 5, 2), "NHWC"), ((3, 2, 4, 5), "NCHW")]


def _axes_c(shape, layout):
    c = 1 if len(shape) == 2 or layout == "NCHW" else 3
    return tuple(i for i in range(len(shape)) if i != c), c


def _jnp(x, gamma, beta, eps, layout, mean=None, var=None):
    axes, c = _axes_c(x.shape, layout)
    shape = [1] * x.ndim
    shape[c] = -1
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + eps)
    return y * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape,layout", SHAPES)
def test_training_parity(shape, layout, dtype):
    rng = np.random.default_rng(61)
    x = rand(rng, shape, dtype) * 2 + 0.5
    _, c = _axes_c(shape, layout)
    gamma, beta = rand(rng, (shape[c],), dtype), rand(rng, (shape[c],), dtype)
    eps = 1e-3

    def f(x, gamma, beta):
        return tj.batch_norm(x, gamma, beta, eps, layout)

    y, mean, var = jit_equal(f, x, gamma, beta)
    ry, rm, rv = R.batch_norm(x, gamma, beta, eps, layout)
    for a, r in ((y, ry), (mean, rm), (var, rv)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, r, **TOL[dtype])
    np.testing.assert_allclose(y, _jnp(x, gamma, beta, eps, layout), **TOL[dtype])
    g = rand(rng, shape, dtype)
    ours = jax.vjp(lambda *a: f(*a)[0], x, gamma, beta)[1](g)
    theirs = jax.vjp(lambda *a: _jnp(*a, eps, layout), x, gamma, beta)[1](g)
    ref = R.batch_norm_backward(g, x, gamma, rm, rv, eps, layout)
    for a, t, r in zip(ours, theirs, ref):
        np.testing.assert_allclose(a, t, **TOL[dtype])
        np.testing.assert_allclose(a, r, **TOL[dtype])


@pytest.mark.parametrize("shape,layout", SHAPES)
def test_inference_parity_and_gradients(shape, layout, dtype):
    rng = np.random.default_rng(62)
    _, c = _axes_c(shape, layout)
    x = rand(rng, shape, dtype)
    gamma, beta, mean = (rand(rng, (shape[c],), dtype) for _ in range(3))
    var = rng.uniform(0.5, 2.0, shape[c]).astype(dtype)

    def f(x, gamma, beta, mean, var):
        return tj.batch_norm_inference(x, gamma, beta, mean, var, 1e-3, layout)

    args = (x, gamma, beta, mean, var)
    y = jit_equal(f, *args)
    np.testing.assert_allclose(y, R.batch_norm_inference(x, gamma, beta, mean, var, 1e-3, layout), **TOL[dtype])
    g = rand(rng, shape, dtype)
    ours = jax.vjp(f, *args)[1](g)
    theirs = jax.vjp(lambda x, g_, b, m, v: _jnp(x, g_, b, 1e-3, layout, m, v), *args)[1](g)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, **TOL[dtype])


def test_gradients_float64_and_no_gradient_through_statistics():
    rng = np.random.default_rng(63)
    x, gamma, beta = rand(rng, (4, 3, 3, 2)), rand(rng, (2,)), rand(rng, (2,))
    grads(lambda x, g, b: tj.batch_norm(x, g, b, 1e-3, "NHWC")[0], (x, gamma, beta))
    grads(lambda x: tj.batch_norm(x, None, None, 1e-3, "NCHW")[0], (rand(rng, (3, 2, 2, 3)),))
    mean, var = rand(rng, (2,)), rng.uniform(0.5, 2.0, 2)
    grads(lambda *a: tj.batch_norm_inference(*a, 1e-3, "NHWC"), (x, gamma, beta, mean, var))
    grads(lambda x, m, v: tj.batch_norm_inference(x, None, None, m, v, 1e-3, "NHWC"), (x, mean, var))
    # the statistics are declared constants (torch marks them non-differentiable)
    d = jax.grad(lambda x: tj.batch_norm(x, gamma, beta, 1e-3, "NHWC")[1].sum())(x)
    np.testing.assert_array_equal(d, np.zeros_like(x))


@pytest.mark.parametrize("unbiased", [True, False])
def test_update_stats(unbiased, dtype):
    rng = np.random.default_rng(64)
    rm, rv, m, v = (rng.uniform(0.5, 2.0, 5).astype(dtype) for _ in range(4))
    nm, nv = jit_equal(lambda *a: tj.batch_norm_update_stats(*a, 0.1, 8, unbiased), rm, rv, m, v)
    vv = v * 8 / 7 if unbiased else v
    np.testing.assert_allclose(nm, 0.9 * rm + 0.1 * m, **TOL[dtype])
    np.testing.assert_allclose(nv, 0.9 * rv + 0.1 * vv, **TOL[dtype])


def test_bad_input_names_op_and_argument():
    x, c = np.ones((2, 3, 3, 4), np.float32), np.ones(4, np.float32)
    with raises(ValueError, "batch_norm", "x"):
        tj.batch_norm(np.ones((2, 3, 4), np.float32), c, c, 1e-3, "NHWC")
    with raises(ValueError, "batch_norm", "gamma"):
        tj.batch_norm(x, np.ones(3, np.float32), c, 1e-3, "NHWC")
    with raises(ValueError, "batch_norm", "eps"):
        tj.batch_norm(x, c, c, 0.0, "NHWC")
    with raises(TypeError, "batch_norm", "eps"):
        tj.batch_norm(x, c, c, "small", "NHWC")
    with raises(ValueError, "batch_norm_inference", "running_var"):
        tj.batch_norm_inference(x, c, c, c, np.ones(3, np.float32), 1e-3, "NHWC")
    with raises(ValueError, "batch_norm_update_stats", "momentum"):
        tj.batch_norm_update_stats(c, c, c, c, 1.5, 4, True)
    with raises(ValueError, "batch_norm_update_stats", "var"):
        tj.batch_norm_update_stats(c, c, c, np.ones(3, np.float32), 0.1, 4, True)
