import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import mse as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_torch, requires_tf

SHAPES = [(1,), (3,), (17, 1), (127, 3), (513,), (1000, 17), (3, 17, 127), (200_003,)]
REDUCTIONS = ("mean", "sum", "none")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_parity_with_reference(shape, dtype, isa):
    p = randn(shape, dtype, seed=len(shape) + shape[0])
    t = randn(shape, dtype, seed=shape[0] + 7)
    for red in REDUCTIONS:
        loss = K.mse(p, t, red)
        assert loss.dtype == dtype and loss.shape == (shape if red == "none" else ())
        assert_close(loss, ref.mse(p, t, red), **tol(dtype), what=f"loss {red}")
        g = randn(shape, dtype, seed=3) if red == "none" else np.asarray(1.7, dtype)
        for grad in (None, g):
            d = K.mse_backward(p, t, grad, red)
            assert d.dtype == dtype and d.shape == shape
            assert_close(d, ref.mse_backward(p, t, grad, red), **tol(dtype), what=f"dpred {red}")


def test_python_scalar_and_one_element_grads(dtype):
    p, t = randn((5, 4), dtype, seed=1), randn((5, 4), dtype, seed=2)
    want = ref.mse_backward(p, t, 0.5, "sum")
    for g in (0.5, np.asarray(0.5, dtype), np.asarray([0.5], dtype)):
        assert_close(K.mse_backward(p, t, g, "sum"), want, **tol(dtype))
    assert_close(K.mse_backward(p, t, 2, "mean"), ref.mse_backward(p, t, 2.0, "mean"), **tol(dtype))


@pytest.mark.parametrize("red", REDUCTIONS)
def test_gradcheck(red):
    p, t = randn((3, 5), np.float64, seed=4), randn((3, 5), np.float64, seed=5)
    w = randn((3, 5), np.float64, seed=6)
    loss = (lambda: float((K.mse(p, t, red) * w).sum())) if red == "none" else (lambda: float(K.mse(p, t, red)))
    grad = w if red == "none" else None
    check_grads(loss, [p], [K.mse_backward(p, t, grad, red)], names=[f"pred ({red})"])


def test_nan_propagates():
    p = np.array([1.0, np.nan, 2.0], np.float32)
    t = np.ones(3, np.float32)
    assert np.isnan(K.mse(p, t))
    none = K.mse(p, t, "none")
    assert np.isnan(none[1]) and np.isfinite(none[[0, 2]]).all()
    assert np.isnan(K.mse_backward(p, t)[1])


@requires_torch
def test_torch_parity(dtype):
    import torch
    import torch.nn.functional as F

    p = torch.from_numpy(randn((33, 17), dtype, seed=8))
    t = torch.from_numpy(randn((33, 17), dtype, seed=9))
    g = torch.from_numpy(randn((33, 17), dtype, seed=10))
    kw = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    for red in REDUCTIONS:
        loss = K.mse(p, t, red)
        assert isinstance(loss, torch.Tensor)
        pr = p.clone().requires_grad_()
        want = F.mse_loss(pr, t, reduction=red)
        up = g if red == "none" else torch.tensor(0.3, dtype=p.dtype)
        want.backward(up)
        torch.testing.assert_close(loss, want.detach(), **kw)
        torch.testing.assert_close(K.mse_backward(p, t, up, red), pr.grad, **kw)
    scalar = torch.tensor(0.3, dtype=p.dtype)
    torch.testing.assert_close(K.mse_backward(p, t, 0.3, "mean"), K.mse_backward(p, t, scalar, "mean"))


@requires_tf
def test_tf_parity():
    import tensorflow as tf

    p = tf.random.normal((12, 7), seed=1)
    t = tf.random.normal((12, 7), seed=2)
    loss = K.mse(p, t)
    assert isinstance(loss, tf.Tensor)
    np.testing.assert_allclose(loss.numpy(), tf.reduce_mean(tf.square(p - t)).numpy(), rtol=1e-5)
    d = K.mse_backward(p, t, 1.0, "mean")
    np.testing.assert_allclose(d.numpy(), (2.0 / 84 * (p - t)).numpy(), rtol=1e-5, atol=1e-7)


def test_bad_input():
    a, b = "np.ones((3, 4))", "np.zeros((3, 4))"
    run_bad_calls([
        ("K.mse(np.ones(3, np.int64), np.ones(3, np.int64))", "TypeError", "mse", "pred"),
        (f"K.mse({a}, np.zeros((4, 3)))", "ValueError", "mse", "target"),
        (f"K.mse({a}, np.zeros((3, 4), np.float32))", "TypeError", "mse", "target"),
        ("K.mse(np.ones((0, 3)), np.ones((0, 3)))", "ValueError", "mse", "pred"),
        (f"K.mse({a}, None)", "TypeError", "mse", "target"),
        (f"K.mse({a}, {b}, 'avg')", "ValueError", "mse", "reduction"),
        (f"K.mse_backward({a}, {b}, reduction='max')", "ValueError", "mse_backward", "reduction"),
        (f"K.mse_backward({a}, {b}, np.ones(2), 'mean')", "ValueError", "mse_backward", "grad"),
        (f"K.mse_backward({a}, {b}, np.ones((1, 1)), 'sum')", "ValueError", "mse_backward", "grad"),
        (f"K.mse_backward({a}, {b}, np.ones(()), 'none')", "ValueError", "mse_backward", "grad"),
        (f"K.mse_backward({a}, {b}, np.ones((3, 4), np.float32), 'none')", "TypeError", "mse_backward", "grad"),
        (f"K.mse_backward({a}, np.zeros(12), None, 'none')", "ValueError", "mse_backward", "target"),
        ("K.mse_backward(np.ones(0), np.ones(0))", "ValueError", "mse_backward", "pred"),
    ])
