"""leaky_relu (kernels/activations.py): reference, every SIMD path, gradients, torch and Keras."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import activations as ref
from twincore.testing import AWKWARD_SIZES, assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_tf, requires_torch


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.3, -0.5, 0.0])
@pytest.mark.parametrize("n", AWKWARD_SIZES + (100_003,))
def test_parity_with_reference(n, slope, dtype, isa):
    x = randn((n,), dtype, seed=n, scale=3.0)
    g = randn((n,), dtype, seed=n + 1)
    y = K.leaky_relu(x, slope)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.leaky_relu(x, slope), **tol(dtype), what="forward")
    assert_close(K.leaky_relu_backward(g, x, slope), ref.leaky_relu_backward(g, x, slope), **tol(dtype),
                 what="backward")


def test_non_contiguous_and_nan():
    x = randn((7, 13, 5), np.float32, seed=3)[:, ::2, :].transpose(2, 0, 1)
    assert_close(K.leaky_relu(x, 0.2), ref.leaky_relu(x, 0.2), **tol(np.float32))
    y = K.leaky_relu(np.array([np.nan, -2.0, 3.0], np.float32), 0.5)
    assert np.isnan(y[0]) and y[1] == -1.0 and y[2] == 3.0


def test_gradcheck():
    x = randn((5, 7), np.float64, seed=5)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    w = randn((5, 7), np.float64, seed=6)
    check_grads(lambda: float((K.leaky_relu(x, 0.2) * w).sum()), [x], [K.leaky_relu_backward(w, x, 0.2)],
                names=["leaky_relu.x"])


@requires_torch
def test_torch_parity():
    import torch

    x = torch.randn(33, 17, dtype=torch.float64, requires_grad=True)
    g = torch.randn(33, 17, dtype=torch.float64)
    for slope in (0.01, 0.2):
        y = torch.nn.functional.leaky_relu(x, slope)
        (dx,) = torch.autograd.grad(y, x, g)
        ours = K.leaky_relu(x.detach(), slope)
        assert isinstance(ours, torch.Tensor)
        torch.testing.assert_close(ours, y.detach(), rtol=0, atol=0)
        torch.testing.assert_close(K.leaky_relu_backward(g, x.detach(), slope), dx, rtol=0, atol=0)


@requires_tf
def test_keras_parity():
    import keras

    x = randn((9, 5), np.float32, seed=1, scale=2.0)
    layer = keras.layers.LeakyReLU(negative_slope=0.3)
    np.testing.assert_allclose(K.leaky_relu(x, 0.3), np.asarray(layer(x)), rtol=1e-6, atol=0)


def test_bad_input():
    run_bad_calls([
        ("K.leaky_relu(np.zeros(3, np.int64))", "TypeError", "leaky_relu", "x"),
        ("K.leaky_relu(np.zeros((0, 3)))", "ValueError", "leaky_relu", "x"),
        ("K.leaky_relu(None)", "TypeError", "leaky_relu", "x"),
        ("K.leaky_relu(np.ones(3), 'a')", "TypeError", "leaky_relu", "negative_slope"),
        ("K.leaky_relu(np.ones(3), float('nan'))", "ValueError", "leaky_relu", "negative_slope"),
        ("K.leaky_relu_backward(np.ones(3), np.ones(4))", "ValueError", "leaky_relu_backward", "x"),
        ("K.leaky_relu_backward(np.ones(3), np.ones(3, np.float32))", "TypeError", "leaky_relu_backward", "x"),
        ("K.leaky_relu_backward(np.ones(3, np.int32), np.ones(3))", "TypeError", "leaky_relu_backward", "grad"),
    ])
