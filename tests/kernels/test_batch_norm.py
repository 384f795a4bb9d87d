"""batch_norm: reference parity in both layouts and rank 2, float64 finite differences,
torch's F.batch_norm (training and eval, running statistics) and Keras's BatchNormalization
(momentum 0.99, eps 1e-3, biased moving variance), the bad-input table."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import batch_norm as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_tf, requires_torch

SHAPES = [((7, 5), "NCHW"), ((3, 4, 5, 6), "NCHW"), ((3, 5, 6, 4), "NHWC"), ((64, 7, 7, 32), "NHWC"),
          ((2, 3, 1, 1), "NCHW"), ((300, 3), "NHWC")]


def _c(shape, layout):
    return shape[1] if len(shape) == 2 or layout == "NCHW" else shape[3]


@pytest.mark.parametrize("shape,layout", SHAPES)
def test_parity_with_reference(shape, layout, dtype):
    c = _c(shape, layout)
    x = randn(shape, dtype, seed=1, scale=3.0) + dtype(5.0)  # a large mean: the two-pass variance holds
    g, b = randn((c,), dtype, seed=2), randn((c,), dtype, seed=3)
    y, mean, var = K.batch_norm(x, g, b, 1e-5, layout)
    ry, rm, rv = ref.batch_norm(x, g, b, 1e-5, layout)
    t = tol(dtype)
    assert_close(y, ry, **t, what="y")
    assert_close(mean, rm, **t, what="mean")
    assert_close(var, rv, **t, what="var")
    gr = randn(shape, dtype, seed=4)
    got = K.batch_norm_backward(gr, x, g, mean, var, 1e-5, layout)
    want = ref.batch_norm_backward(gr, x, g, mean, var, 1e-5, layout)
    for a, e, name in zip(got, want, ("dx", "dgamma", "dbeta")):
        assert_close(a, e, rtol=t["rtol"] * 10, atol=t["atol"] * 10 * max(1, float(np.abs(e).max())), what=name)
    assert_close(K.batch_norm_inference(x, g, b, mean, var, 1e-5, layout), ry, **t, what="inference")
    y0, _, _ = K.batch_norm(x, None, None, 1e-5, layout)
    assert_close(y0, ref.batch_norm(x, None, None, 1e-5, layout)[0], **t, what="no affine")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gradcheck(layout):
    x = randn((3, 2, 3, 4) if layout == "NCHW" else (3, 3, 4, 2), np.float64, seed=5)
    g, b = randn((2,), np.float64, seed=6), randn((2,), np.float64, seed=7)
    w = randn(x.shape, np.float64, seed=8)
    loss = lambda: float((K.batch_norm(x, g, b, 1e-3, layout)[0] * w).sum())
    _, mean, var = K.batch_norm(x, g, b, 1e-3, layout)
    check_grads(loss, [x, g, b], list(K.batch_norm_backward(w, x, g, mean, var, 1e-3, layout)),
                names=["x", "gamma", "beta"])


@requires_torch
def test_torch_parity_with_running_stats():
    import torch
    import torch.nn.functional as F

    x = torch.randn(8, 3, 5, 4, dtype=torch.float64) * 2 + 1
    g, b = torch.rand(3, dtype=torch.float64) + 0.5, torch.randn(3, dtype=torch.float64)
    rm, rv = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    rm_t, rv_t = rm.clone(), rv.clone()
    xr, gr, br = (t.clone().requires_grad_() for t in (x, g, b))
    y_t = F.batch_norm(xr, rm_t, rv_t, gr, br, training=True, momentum=0.1, eps=1e-5)
    up = torch.randn_like(y_t)
    y_t.backward(up)
    y, mean, var = K.batch_norm(x, g, b, 1e-5, "NCHW")
    torch.testing.assert_close(y, y_t.detach())
    nm, nv = K.batch_norm_update_stats(rm, rv, mean, var, 0.1, 8 * 5 * 4, unbiased=True)
    torch.testing.assert_close(nm, rm_t)
    torch.testing.assert_close(nv, rv_t)
    dx, dg, db = K.batch_norm_backward(up, x, g, mean, var, 1e-5, "NCHW")
    for a, e in ((dx, xr.grad), (dg, gr.grad), (db, br.grad)):
        torch.testing.assert_close(a, e)
    torch.testing.assert_close(K.batch_norm_inference(x, g, b, nm, nv, 1e-5, "NCHW"),
                               F.batch_norm(x, rm_t, rv_t, g, b, training=False, eps=1e-5))


@requires_tf
def test_keras_parity_with_moving_stats():
    import keras

    x = randn((16, 4, 4, 3), np.float32, seed=9, scale=2.0) + np.float32(1.0)
    layer = keras.layers.BatchNormalization(gamma_initializer="random_uniform", beta_initializer="random_normal")
    layer.build(x.shape)
    g, b, mm, mv = (np.asarray(w) for w in layer.weights)
    y_k = np.asarray(layer(x, training=True))
    y, mean, var = K.batch_norm(x, g, b, 1e-3, "NHWC")
    np.testing.assert_allclose(y, y_k, rtol=1e-5, atol=1e-5)
    nm, nv = K.batch_norm_update_stats(mm, mv, mean, var, 1 - 0.99, 16 * 4 * 4, unbiased=False)
    np.testing.assert_allclose(nm, np.asarray(layer.moving_mean), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(nv, np.asarray(layer.moving_variance), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(K.batch_norm_inference(x, g, b, nm, nv, 1e-3, "NHWC"),
                               np.asarray(layer(x, training=False)), rtol=1e-5, atol=1e-5)


def test_bad_input():
    run_bad_calls([
        ("K.batch_norm(np.zeros((2, 3, 4)))", "ValueError", "batch_norm", "x"),
        ("K.batch_norm(np.zeros((0, 3)))", "ValueError", "batch_norm", "x"),
        ("K.batch_norm(np.zeros((2, 3), np.int32))", "TypeError", "batch_norm", "x"),
        ("K.batch_norm(np.zeros((2, 3)), np.ones(4))", "ValueError", "batch_norm", "gamma"),
        ("K.batch_norm(np.zeros((2, 3)), None, np.ones(3, np.float32))", "TypeError", "batch_norm", "beta"),
        ("K.batch_norm(np.zeros((2, 3)), eps=0.0)", "ValueError", "batch_norm", "eps"),
        ("K.batch_norm(np.zeros((2, 3, 4, 5)), layout='NWHC')", "ValueError", "batch_norm", "layout"),
        ("K.batch_norm_inference(np.zeros((2, 3)), None, None, np.zeros(2), np.ones(3))", "ValueError",
         "batch_norm_inference", "running_mean"),
        ("K.batch_norm_backward(np.zeros((2, 4)), np.zeros((2, 3)), None, np.zeros(3), np.ones(3))", "ValueError",
         "batch_norm_backward", "grad"),
        ("K.batch_norm_update_stats(np.zeros(3), np.ones(3), np.zeros(3), np.ones(3), 1.5, 4)", "ValueError",
         "batch_norm_update_stats", "momentum"),
        ("K.batch_norm_update_stats(np.zeros(3), np.ones(2), np.zeros(3), np.ones(3), 0.1, 4)", "ValueError",
         "batch_norm_update_stats", "running_var"),
    ])
