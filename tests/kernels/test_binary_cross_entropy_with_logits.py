"""Fused binary cross-entropy from logits: reference, SIMD paths, stability, gradients,
torch's F.binary_cross_entropy_with_logits and Keras's BinaryCrossentropy(from_logits=True)."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import binary_cross_entropy_with_logits as ref
from twincore.testing import assert_close, check_grads, randn, rng, run_bad_calls, tol

from support import requires_tf, requires_torch

BCE = K.binary_cross_entropy_with_logits


def _data(shape, dtype, seed, soft=True):
    x = randn(shape, dtype, seed, scale=4.0)
    t = rng(seed + 1).uniform(0, 1, shape) if soft else rng(seed + 1).integers(0, 2, shape)
    return x, t.astype(dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1,), (7,), (33, 1), (5, 17), (3, 4, 513), (10_007,)])
def test_parity_with_reference(shape, reduction, dtype, isa):
    x, t = _data(shape, dtype, seed=sum(shape))
    loss, dl = BCE(x, t, reduction=reduction)
    rl, rd = ref.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    assert loss.dtype == dtype and loss.shape == np.shape(rl) and dl.shape == x.shape
    assert_close(loss, rl, **tol(dtype), what="loss")
    assert_close(dl, rd, **tol(dtype), what="dlogits")


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_pos_weight_and_label_smoothing(smoothing, dtype):
    x, t = _data((6, 5), dtype, seed=3, soft=False)
    for pw in (randn((5,), dtype, 4, scale=1.0) ** 2 + 0.1, np.array([3.0], dtype)):
        loss, dl = BCE(x, t, pos_weight=pw, label_smoothing=smoothing, reduction="none")
        rl, rd = ref.binary_cross_entropy_with_logits(x, t, pw, smoothing, "none")
        assert_close(loss, rl, **tol(dtype), what="loss")
        assert_close(dl, rd, **tol(dtype), what="dlogits")


def test_stable_at_large_logits(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 88.0, -104.0], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0], dtype)
    loss, dl = BCE(x, t, reduction="none")
    assert np.isfinite(loss).all() and np.isfinite(dl).all()
    assert_close(loss, [1e4, 1e4, 0.0, 0.0, np.log(2.0), 88.0, 104.0], rtol=1e-6, atol=1e-6)
    assert_close(dl, [1.0, -1.0, 0.0, 0.0, 0.0, 1.0, -1.0], rtol=1e-6, atol=1e-6)


def test_mean_gradient_is_the_per_element_gradient_times_1_over_m():
    # The bits a framework gets from the "none" gradient times its upstream 1/M (Keras).
    x, t = _data((64, 1), np.float32, seed=9)
    _, d_none = BCE(x, t, reduction="none")
    _, d_mean = BCE(x, t, reduction="mean")
    np.testing.assert_array_equal(d_mean, d_none * np.float32(1 / 64))


def test_nan_propagates():
    loss, dl = BCE(np.array([np.nan, 1.0]), np.array([1.0, 0.0]), reduction="none")
    assert np.isnan(loss[0]) and np.isnan(dl[0]) and np.isfinite(loss[1])


def test_gradcheck():
    x, t = _data((4, 3), np.float64, seed=2)
    pw = np.array([0.5, 2.0, 3.0])
    for red in ("mean", "sum"):
        f = lambda: float(BCE(x, t, pw, 0.2, red)[0])
        check_grads(f, [x], [BCE(x, t, pw, 0.2, red)[1]], names=[f"bce.{red}"])


@requires_torch
def test_torch_parity():
    import torch
    import torch.nn.functional as F

    x = torch.randn(40, 7, dtype=torch.float64, requires_grad=True) * 5
    t = torch.rand(40, 7, dtype=torch.float64)
    pw = torch.rand(7, dtype=torch.float64) * 3
    for red in ("mean", "sum", "none"):
        for w in (None, pw):
            ref_loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=w, reduction=red)
            g = torch.ones_like(ref_loss)
            (ref_dx,) = torch.autograd.grad(ref_loss, x, g)
            loss, dl = BCE(x.detach(), t, w, reduction=red)
            torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(dl, ref_dx, rtol=1e-12, atol=1e-12)


@requires_tf
def test_keras_parity():
    import keras
    import tensorflow as tf

    x = tf.constant(randn((16, 3), np.float64, 5, scale=3.0))
    t = tf.constant(rng(6).integers(0, 2, (16, 3)).astype(np.float64))
    for s in (0.0, 0.2):
        fn = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=s, dtype="float64")
        with tf.GradientTape() as tape:
            tape.watch(x)
            expected = fn(t, x)
        dx = tape.gradient(expected, x)
        loss, dl = BCE(x.numpy(), t.numpy(), label_smoothing=s)
        np.testing.assert_allclose(loss, expected.numpy(), rtol=1e-12)
        np.testing.assert_allclose(dl, dx.numpy(), rtol=1e-10, atol=1e-15)


def test_bad_input():
    run_bad_calls([
        ("K.binary_cross_entropy_with_logits(np.zeros(3, np.int64), np.zeros(3))", "TypeError",
         "binary_cross_entropy_with_logits", "logits"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4))", "ValueError",
         "binary_cross_entropy_with_logits", "targets"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3, np.float32))", "TypeError",
         "binary_cross_entropy_with_logits", "targets"),
        ("K.binary_cross_entropy_with_logits(np.zeros((0, 2)), np.zeros((0, 2)))", "ValueError",
         "binary_cross_entropy_with_logits", "logits"),
        ("K.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), np.ones(2))", "ValueError",
         "binary_cross_entropy_with_logits", "pos_weight"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), label_smoothing=1.5)", "ValueError",
         "binary_cross_entropy_with_logits", "label_smoothing"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), label_smoothing='x')", "TypeError",
         "binary_cross_entropy_with_logits", "label_smoothing"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), reduction='avg')", "ValueError",
         "binary_cross_entropy_with_logits", "reduction"),
        ("K.binary_cross_entropy_with_logits(np.zeros(3), None)", "TypeError",
         "binary_cross_entropy_with_logits", "targets"),
    ])
