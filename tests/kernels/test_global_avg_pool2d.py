import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import global_avg_pool2d as ref
from twincore.testing import AWKWARD_SIZES, assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_tf, requires_torch

# (N, C, H, W): awkward sizes in every position, plus the document models' shapes.
SHAPES = [(n, 3, 5, 7) for n in AWKWARD_SIZES[:4]] + [(2, c, 3, 3) for c in AWKWARD_SIZES] + [
    (1, 2, 1, 1), (1, 1, 17, 127), (1, 1, 1, 513), (2, 4, 513, 3), (3, 32, 28, 28), (1, 300, 9, 9)]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_parity_with_reference(shape, layout, dtype, isa):
    x = randn(shape, dtype, seed=sum(shape), scale=3.0) + 0.5
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = K.global_avg_pool2d(x, layout)
    assert y.shape == (shape[0], shape[1]) and y.dtype == dtype
    assert_close(y, ref.global_avg_pool2d(x, layout), **tol(dtype), what="forward")
    g = randn(y.shape, dtype, seed=3)
    dx = K.global_avg_pool2d_backward(g, x.shape, layout)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_close(dx, ref.global_avg_pool2d_backward(g, x.shape, layout), **tol(dtype), what="backward")


def test_float32_sums_keep_precision():
    x = np.full((1, 1, 1000, 1000), 0.1, np.float32) + randn((1, 1, 1000, 1000), np.float32, seed=1) * 1e-3
    assert_close(K.global_avg_pool2d(x), ref.global_avg_pool2d(x), rtol=1e-6, atol=0)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gradcheck(layout):
    x = randn((2, 3, 4, 5), np.float64, seed=5)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    w = randn((2, 3), np.float64, seed=6)
    loss = lambda: float((K.global_avg_pool2d(x, layout) * w).sum())
    check_grads(loss, [x], [K.global_avg_pool2d_backward(w, x.shape, layout)], names=["x"])


def test_nan_propagates():
    x = randn((2, 3, 4, 4), np.float32, seed=2)
    x[1, 2, 3, 0] = np.nan
    y = K.global_avg_pool2d(x)
    assert np.isnan(y[1, 2]) and np.isfinite(np.delete(y.ravel(), 5)).all()
    y = K.global_avg_pool2d(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), "NHWC")
    assert np.isnan(y[1, 2]) and np.isfinite(np.delete(y.ravel(), 5)).all()


@requires_torch
@pytest.mark.parametrize("channels_last", [False, True], ids=["NCHW", "NHWC"])
def test_torch_parity(channels_last):
    import torch
    import torch.nn.functional as F

    x = torch.randn(4, 13, 7, 9, dtype=torch.float64, requires_grad=True)
    yt = F.adaptive_avg_pool2d(x, 1).flatten(1)
    g = torch.randn_like(yt)
    yt.backward(g)
    if channels_last:
        xn = x.detach().permute(0, 2, 3, 1).contiguous()
        y = K.global_avg_pool2d(xn, "NHWC")
        dx = K.global_avg_pool2d_backward(g, xn.shape, "NHWC").permute(0, 3, 1, 2)
    else:
        y = K.global_avg_pool2d(x)
        dx = K.global_avg_pool2d_backward(g, x.shape)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    torch.testing.assert_close(y, yt.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, x.grad, rtol=1e-12, atol=1e-12)


@requires_tf
def test_tf_parity():
    import tensorflow as tf

    x = tf.random.normal((3, 6, 5, 11), seed=2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        yt = tf.reduce_mean(x, axis=[1, 2])
        g = tf.random.normal(yt.shape, seed=3)
        loss = tf.reduce_sum(yt * g)
    y = K.global_avg_pool2d(x, "NHWC")
    assert isinstance(y, tf.Tensor)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-5, atol=1e-6)
    dx = K.global_avg_pool2d_backward(g, x.shape, "NHWC")
    np.testing.assert_allclose(dx.numpy(), tape.gradient(loss, x).numpy(), rtol=1e-6, atol=1e-7)


def test_bad_input():
    run_bad_calls([
        ("K.global_avg_pool2d(np.ones((2, 3, 4), np.float32))", "ValueError", "global_avg_pool2d", "x"),
        ("K.global_avg_pool2d(np.ones((2, 3, 4, 4), np.int64))", "TypeError", "global_avg_pool2d", "x"),
        ("K.global_avg_pool2d(np.ones((2, 3, 0, 4), np.float32))", "ValueError", "global_avg_pool2d", "x"),
        ("K.global_avg_pool2d(None)", "TypeError", "global_avg_pool2d", "x"),
        ("K.global_avg_pool2d(np.ones((2, 3, 4, 4)), 'CHWN')", "ValueError", "global_avg_pool2d", "layout"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3)), (2, 4, 4, 4))", "ValueError",
         "global_avg_pool2d_backward", "grad"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3)), (2, 3, 4, 4), 'NHWC')", "ValueError",
         "global_avg_pool2d_backward", "grad"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3, 1)), (2, 3, 4, 4))", "ValueError",
         "global_avg_pool2d_backward", "grad"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3)), (2, 3, 4))", "ValueError",
         "global_avg_pool2d_backward", "x_shape"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3)), (2, 3, -1, 4))", "ValueError",
         "global_avg_pool2d_backward", "x_shape"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3)), None)", "TypeError",
         "global_avg_pool2d_backward", "x_shape"),
        ("K.global_avg_pool2d_backward(np.ones((2, 3), np.int32), (2, 3, 4, 4))", "TypeError",
         "global_avg_pool2d_backward", "grad"),
    ])
