import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import softmax as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_torch, requires_tf

SHAPES = [(1,), (3,), (1000,), (17, 1), (1, 513), (127, 17), (513, 127), (3, 1000), (5, 3, 17),
          (2, 3, 1, 127)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_parity_with_reference(shape, dtype, isa):
    x = randn(shape, dtype, seed=sum(shape), scale=4.0)
    g = randn(shape, dtype, seed=sum(shape) + 1)
    y = K.softmax(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.softmax(x), **tol(dtype), what="forward")
    assert_close(y.sum(axis=-1), np.ones(shape[:-1]), **tol(dtype), what="rows sum to 1")
    dx = K.softmax_backward(g, y)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert_close(dx, ref.softmax_backward(g, y.astype(np.float64)), **tol(dtype), what="backward")


def test_gradcheck():
    x = randn((4, 9), np.float64, seed=5)
    w = randn((4, 9), np.float64, seed=6)
    loss = lambda: float((K.softmax(x) * w).sum())
    check_grads(loss, [x], [K.softmax_backward(w, K.softmax(x))], names=["softmax.x"])


def test_stable_at_1e4_and_nan_rows(dtype, isa):
    x = randn((9, 130), dtype, seed=3, scale=1e4)
    y = K.softmax(x)
    assert np.isfinite(y).all()
    assert_close(y, ref.softmax(x), **tol(dtype))
    x[4, 7] = np.nan
    y = K.softmax(x)
    assert np.isnan(y[4]).all() and np.isfinite(np.delete(y, 4, axis=0)).all()


def test_non_contiguous_input():
    x = randn((6, 40), np.float32, seed=9)[:, ::3]
    assert not x.flags.c_contiguous
    assert_close(K.softmax(x), ref.softmax(x), **tol(np.float32))


@requires_torch
def test_torch_parity(dtype):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(randn((31, 77), dtype, seed=4, scale=3.0))
    g = torch.from_numpy(randn((31, 77), dtype, seed=5))
    y = K.softmax(x)
    assert isinstance(y, torch.Tensor)
    xr = x.clone().requires_grad_()
    want = F.softmax(xr, dim=-1)
    want.backward(g)
    kw = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    torch.testing.assert_close(y, want.detach(), **kw)
    torch.testing.assert_close(K.softmax_backward(g, y), xr.grad, **kw)


@requires_tf
def test_tf_parity():
    import tensorflow as tf

    x = tf.random.normal((9, 33), dtype=tf.float32, seed=1)
    y = K.softmax(x)
    assert isinstance(y, tf.Tensor)
    np.testing.assert_allclose(y.numpy(), tf.nn.softmax(x).numpy(), rtol=1e-5, atol=1e-7)


def test_bad_input():
    run_bad_calls([
        ("K.softmax(np.zeros(3, np.int64))", "TypeError", "softmax", "x"),
        ("K.softmax(np.array(1.0, np.float32))", "ValueError", "softmax", "x"),
        ("K.softmax(np.zeros((0, 3)))", "ValueError", "softmax", "x"),
        ("K.softmax(np.zeros((3, 0)))", "ValueError", "softmax", "x"),
        ("K.softmax(None)", "TypeError", "softmax", "x"),
        ("K.softmax(np.zeros((2,)*9))", "ValueError", "softmax", "x"),
        ("K.softmax_backward(np.ones((2, 3)), np.ones((3, 2)))", "ValueError", "softmax_backward", "y"),
        ("K.softmax_backward(np.ones(3), np.ones(3, np.float32))", "TypeError", "softmax_backward", "y"),
        ("K.softmax_backward(np.ones(3, np.int32), np.ones(3))", "TypeError", "softmax_backward", "grad"),
        ("K.softmax_backward(np.ones(0), np.ones(0))", "ValueError", "softmax_backward", "grad"),
    ])


def test_float32_exp_accuracy_over_its_range(isa):
    # softmax([0, v])[1] = e^v / (1 + e^v) exercises the vectorized float exp on [-87, 0].
    v = np.linspace(-87.0, 0.0, 50_001).astype(np.float32)
    y = K.softmax(np.stack([np.zeros_like(v), v], axis=1))[:, 1].astype(np.float64)
    e = np.exp(v.astype(np.float64))
    rel = np.abs(y - e / (1 + e)) / (e / (1 + e))
    assert rel.max() < 5e-7, rel.max()  # a few float32 ulps
