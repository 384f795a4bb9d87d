import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import activations as ref
from twincore.testing import AWKWARD_SIZES, assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_torch, requires_tf

OPS = [(K.relu, K.relu_backward, ref.relu, ref.relu_backward),
       (K.tanh, K.tanh_backward, ref.tanh, ref.tanh_backward)]
IDS = ["relu", "tanh"]


@pytest.mark.parametrize("fwd,bwd,rfwd,rbwd", OPS, ids=IDS)
@pytest.mark.parametrize("n", AWKWARD_SIZES + (100_003,))
def test_parity_with_reference(fwd, bwd, rfwd, rbwd, n, dtype, isa):
    x = randn((n,), dtype, seed=n, scale=3.0)
    g = randn((n,), dtype, seed=n + 1)
    y = fwd(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, rfwd(x), **tol(dtype), what="forward")
    assert_close(bwd(g, y), rbwd(g, y.astype(np.float64)), **tol(dtype), what="backward")


@pytest.mark.parametrize("fwd,bwd,rfwd,rbwd", OPS, ids=IDS)
def test_batched_and_non_contiguous(fwd, bwd, rfwd, rbwd):
    x = randn((7, 13, 5), np.float32, seed=3)[:, ::2, :].transpose(2, 0, 1)  # strided view
    assert not x.flags.c_contiguous
    assert_close(fwd(x), rfwd(x), **tol(np.float32))


@pytest.mark.parametrize("fwd,bwd,name", [(K.relu, K.relu_backward, "relu"), (K.tanh, K.tanh_backward, "tanh")])
def test_gradcheck(fwd, bwd, name):
    x = randn((4, 6), np.float64, seed=5)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from relu's kink
    w = randn((4, 6), np.float64, seed=6)
    loss = lambda: float((fwd(x) * w).sum())
    check_grads(loss, [x], [bwd(w, fwd(x))], names=[name + ".x"])


def test_nan_propagates():
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    for f in (K.relu, K.tanh):
        assert np.isnan(f(x)[0]) and np.isfinite(f(x)[1:]).all()


def test_tanh_saturates_without_nan():
    x = np.array([-1e4, -20.0, 20.0, 1e4, np.inf, -np.inf], np.float32)
    assert_close(K.tanh(x), np.tanh(x.astype(np.float64)), rtol=0, atol=1e-7)


@requires_torch
def test_torch_in_torch_out_and_native_parity():
    import torch

    x = torch.randn(33, 17, dtype=torch.float64)
    for ours, native in ((K.relu, torch.relu), (K.tanh, torch.tanh)):
        y = ours(x)
        assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
        torch.testing.assert_close(y, native(x))


@requires_tf
def test_tf_in_tf_out_and_native_parity():
    import tensorflow as tf

    x = tf.random.normal((9, 5), dtype=tf.float32, seed=1)
    y = K.relu(x)
    assert isinstance(y, tf.Tensor)
    np.testing.assert_allclose(y.numpy(), tf.nn.relu(x).numpy())
    np.testing.assert_allclose(K.tanh(x).numpy(), tf.math.tanh(x).numpy(), rtol=1e-6, atol=1e-6)


def test_bad_input():
    run_bad_calls([
        ("K.relu(np.zeros(3, np.int64))", "TypeError", "relu", "x"),
        ("K.relu(np.zeros(3, bool))", "TypeError", "relu", "x"),
        ("K.relu(np.zeros((0, 3)))", "ValueError", "relu", "x"),
        ("K.relu(None)", "TypeError", "relu", "x"),
        ("K.relu('abc')", "TypeError", "relu", "x"),
        ("K.tanh(np.zeros((2,)*9))", "ValueError", "tanh", "x"),
        ("K.relu_backward(np.ones(3), np.ones(4))", "ValueError", "relu_backward", "y"),
        ("K.tanh_backward(np.ones(3), np.ones(3, np.float32))", "TypeError", "tanh_backward", "y"),
        ("K.tanh_backward(np.ones(3, np.int32), np.ones(3))", "TypeError", "tanh_backward", "grad"),
    ])


# ---- sigmoid (issue 16) --------------------------------------------------------------

@pytest.mark.parametrize("n", AWKWARD_SIZES + (100_003,))
def test_sigmoid_parity_with_reference(n, dtype, isa):
    x = randn((n,), dtype, seed=n, scale=4.0)
    g = randn((n,), dtype, seed=n + 1)
    y = K.sigmoid(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.sigmoid(x), **tol(dtype), what="forward")
    assert_close(K.sigmoid_backward(g, y), ref.sigmoid_backward(g, y.astype(np.float64)), **tol(dtype),
                 what="backward")


def test_sigmoid_gradcheck():
    x = randn((5, 7), np.float64, seed=8, scale=3.0)
    w = randn((5, 7), np.float64, seed=9)
    check_grads(lambda: float((K.sigmoid(x) * w).sum()), [x], [K.sigmoid_backward(w, K.sigmoid(x))],
                names=["sigmoid.x"])


def test_sigmoid_saturates_and_nan(isa):
    x = np.array([-1e4, -90.0, -30.0, 30.0, 90.0, 1e4, np.inf, -np.inf, np.nan], np.float32)
    y = K.sigmoid(x)
    assert_close(y[:-1], ref.sigmoid(x[:-1]), rtol=1e-5, atol=1.2e-38)  # below float32 normals: 0
    assert np.isnan(y[-1]) and y[0] == 0.0 and y[5] == 1.0


@requires_torch
def test_sigmoid_torch_parity():
    import torch

    x = torch.randn(33, 17, dtype=torch.float32) * 5
    y = K.sigmoid(x)
    assert isinstance(y, torch.Tensor)
    torch.testing.assert_close(y, torch.sigmoid(x), rtol=2e-6, atol=1e-7)


@requires_tf
def test_sigmoid_tf_parity():
    import tensorflow as tf

    x = tf.random.normal((9, 5), dtype=tf.float64, seed=2) * 5
    np.testing.assert_allclose(K.sigmoid(x).numpy(), tf.math.sigmoid(x).numpy(), rtol=1e-12)


def test_sigmoid_bad_input():
    run_bad_calls([
        ("K.sigmoid(np.zeros(3, np.int32))", "TypeError", "sigmoid", "x"),
        ("K.sigmoid(np.zeros((0,)))", "ValueError", "sigmoid", "x"),
        ("K.sigmoid_backward(np.ones(3), np.ones(4))", "ValueError", "sigmoid_backward", "y"),
        ("K.sigmoid_backward(np.ones(3), np.ones(3, np.float32))", "TypeError", "sigmoid_backward", "y"),
    ])
