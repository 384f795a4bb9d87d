import numpy as np
import pytest

import twincore.kernels as K
from twincore import _core
from twincore.kernels._array import NUMPY
from twincore.kernels.reference import softmax_cross_entropy as ref
from twincore.testing import assert_close, check_grads, randn, rng, run_bad_calls, tol

from support import requires_torch, requires_tf

SIZES = (1, 3, 17, 127, 513, 1000)
# (N, C) pairs that use every size on both axes without the full cross product.
SHAPES = [(1, 1), (1, 1000), (3, 17), (17, 3), (127, 513), (513, 127), (1000, 3), (3, 1000),
          (17, 1), (1, 127), (513, 17)]
REDUCTIONS = ("mean", "sum", "none")


def make_labels(form, n, c, dtype, seed):
    g = rng(seed)
    if form == "int32" or form == "int64":
        return g.integers(0, c, size=n).astype(form)
    if form == "onehot":
        return np.eye(c, dtype=dtype)[g.integers(0, c, size=n)]
    p = g.random((n, c)) + 0.05
    return (p / p.sum(axis=1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("n,c", SHAPES, ids=[f"{n}x{c}" for n, c in SHAPES])
def test_parity_with_reference(n, c, dtype, isa):
    x = randn((n, c), dtype, seed=n * 7 + c, scale=3.0)
    for form in ("int64", "int32", "onehot", "prob"):
        labels = make_labels(form, n, c, dtype, seed=n + c)
        for s in (0.0, 0.1):
            for red in REDUCTIONS:
                loss, dl = K.softmax_cross_entropy(x, labels, label_smoothing=s, reduction=red)
                want_loss, want_dl = ref.softmax_cross_entropy(x, labels, s, red)
                what = f"{form} s={s} {red}"
                assert loss.dtype == dtype and dl.dtype == dtype and dl.shape == (n, c)
                assert loss.shape == (() if red != "none" else (n,))
                assert_close(loss, want_loss, **tol(dtype), what="loss " + what)
                assert_close(dl, want_dl, **tol(dtype), what="dlogits " + what)


@pytest.mark.parametrize("form", ["int64", "prob"])
def test_forward_only_path_matches(form, isa):
    x = randn((17, 127), np.float32, seed=2)
    labels = make_labels(form, 17, 127, np.float32, seed=3)
    for red in REDUCTIONS:
        loss, dl = _core.softmax_cross_entropy(x, labels, 0.1, red, False, NUMPY.alloc)
        assert dl is None
        assert_close(loss, ref.softmax_cross_entropy(x, labels, 0.1, red)[0], **tol(np.float32))


@pytest.mark.parametrize("form", ["int64", "onehot", "prob"])
@pytest.mark.parametrize("red", REDUCTIONS)
def test_gradcheck(form, red):
    x = randn((4, 7), np.float64, seed=11)
    labels = make_labels(form, 4, 7, np.float64, seed=12)
    w = randn((4,), np.float64, seed=13)  # weights the rows of "none" so each row's grad counts

    def loss():
        out = K.softmax_cross_entropy(x, labels, 0.1, red)[0]
        return float((out * w).sum()) if red == "none" else float(out)

    dl = K.softmax_cross_entropy(x, labels, 0.1, red)[1]
    if red == "none":
        dl = dl * w[:, None]
    check_grads(loss, [x], [dl], names=[f"logits ({form}, {red})"])


@pytest.mark.parametrize("form", ["int64", "onehot", "prob"])
def test_stable_at_1e4(form, dtype, isa):
    n, c = 33, 129
    x = randn((n, c), dtype, seed=5, scale=1e4)
    labels = make_labels(form, n, c, dtype, seed=6)
    for s in (0.0, 0.1):
        for red in REDUCTIONS:
            loss, dl = K.softmax_cross_entropy(x, labels, s, red)
            assert np.isfinite(loss).all() and np.isfinite(dl).all()
            want_loss, want_dl = ref.softmax_cross_entropy(x, labels, s, red)
            assert_close(loss, want_loss, **tol(dtype), what=f"loss {form} {s} {red}")
            assert_close(dl, want_dl, **tol(dtype), what=f"dlogits {form} {s} {red}")


def test_onehot_against_minus_inf_logit_is_finite(dtype):
    x = np.array([[0.0, -np.inf, 1.0, 2.0], [-np.inf, 3.0, -np.inf, 0.5]], dtype)
    onehot = np.array([[1, 0, 0, 0], [0, 0, 0, 1]], dtype)
    for labels in (onehot, np.array([0, 3])):
        loss, dl = K.softmax_cross_entropy(x, labels, reduction="none")
        assert np.isfinite(loss).all() and np.isfinite(dl).all()
        want_loss, want_dl = ref.softmax_cross_entropy(x, labels, 0.0, "none")
        assert_close(loss, want_loss, **tol(dtype))
        assert_close(dl, want_dl, **tol(dtype))


def test_nan_logits_give_nan_loss(isa):
    x = randn((3, 40), np.float32, seed=8)
    x[1, 5] = np.nan
    loss, dl = K.softmax_cross_entropy(x, np.array([0, 1, 2]), reduction="none")
    assert np.isnan(loss[1]) and np.isnan(dl[1]).all()
    assert np.isfinite(loss[[0, 2]]).all() and np.isfinite(dl[[0, 2]]).all()
    assert np.isnan(K.softmax_cross_entropy(x, np.array([0, 1, 2]))[0])


@requires_torch
@pytest.mark.parametrize("form", ["int64", "prob"])
def test_torch_parity(form, dtype):
    import torch
    import torch.nn.functional as F

    tdt = torch.float32 if dtype == np.float32 else torch.float64
    n, c = 37, 19
    x = torch.from_numpy(randn((n, c), dtype, seed=21, scale=2.0))
    labels = torch.from_numpy(make_labels(form, n, c, dtype, seed=22))
    for s in (0.0, 0.1):
        for red in REDUCTIONS:
            loss, dl = K.softmax_cross_entropy(x, labels, s, red)
            assert isinstance(loss, torch.Tensor) and loss.dtype == tdt
            xr = x.clone().requires_grad_()
            want = F.cross_entropy(xr, labels, label_smoothing=s, reduction=red)
            (want.sum() if red == "none" else want).backward()
            kw = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
            torch.testing.assert_close(loss, want.detach(), **kw)
            torch.testing.assert_close(dl, xr.grad, **kw)


@requires_tf
def test_tf_parity(dtype):
    import tensorflow as tf

    n, c = 23, 11
    x_np = randn((n, c), dtype, seed=31, scale=2.0)
    x = tf.constant(x_np)
    ids = make_labels("int32", n, c, dtype, seed=32)
    probs = make_labels("prob", n, c, dtype, seed=33)
    for labels, native in ((ids, tf.nn.sparse_softmax_cross_entropy_with_logits),
                           (probs, tf.nn.softmax_cross_entropy_with_logits)):
        lab = tf.constant(labels)
        loss, dl = K.softmax_cross_entropy(x, lab, reduction="none")
        assert isinstance(loss, tf.Tensor)
        with tf.GradientTape() as tape:
            tape.watch(x)
            want = native(labels=lab, logits=x)
        want_dl = tape.gradient(want, x)
        rt = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(loss.numpy(), want.numpy(), **rt)
        np.testing.assert_allclose(dl.numpy(), want_dl.numpy(), **rt)


def test_bad_input():
    f = "K.softmax_cross_entropy"
    op = "softmax_cross_entropy"
    x = "np.ones((4, 5), np.float32)"
    run_bad_calls([
        (f"{f}(np.ones(5, np.float32), np.zeros(5, np.int64))", "ValueError", op, "logits"),
        (f"{f}(np.ones((2, 4, 5), np.float32), np.zeros(2, np.int64))", "ValueError", op, "logits"),
        (f"{f}(np.ones((4, 5), np.int32), np.zeros(4, np.int64))", "TypeError", op, "logits"),
        (f"{f}(np.ones((0, 5), np.float32), np.zeros(0, np.int64))", "ValueError", op, "logits"),
        (f"{f}(np.ones((4, 0), np.float32), np.zeros(4, np.int64))", "ValueError", op, "logits"),
        (f"{f}(None, np.zeros(4, np.int64))", "TypeError", op, "logits"),
        (f"{f}({x}, np.zeros(3, np.int64))", "ValueError", op, "labels"),
        (f"{f}({x}, np.zeros((4, 1), np.int64))", "ValueError", op, "labels"),
        (f"{f}({x}, np.array([0, 1, 5, 2]))", "ValueError", op, "labels"),
        (f"{f}({x}, np.array([0, -1, 2, 2], np.int32))", "ValueError", op, "labels"),
        (f"{f}({x}, np.ones((4, 4), np.float32))", "ValueError", op, "labels"),
        (f"{f}({x}, np.ones((3, 5), np.float32))", "ValueError", op, "labels"),
        (f"{f}({x}, np.ones(4, np.float32))", "ValueError", op, "labels"),
        (f"{f}({x}, np.ones((4, 5), np.float64))", "TypeError", op, "labels"),
        (f"{f}({x}, np.zeros(4, np.uint8))", "TypeError", op, "labels"),
        (f"{f}({x}, np.zeros(4, bool))", "TypeError", op, "labels"),
        (f"{f}({x}, None)", "TypeError", op, "labels"),
        (f"{f}({x}, np.zeros(4, np.int64), reduction='avg')", "ValueError", op, "reduction"),
        (f"{f}({x}, np.zeros(4, np.int64), label_smoothing=-0.1)", "ValueError", op, "label_smoothing"),
        (f"{f}({x}, np.zeros(4, np.int64), label_smoothing=1.5)", "ValueError", op, "label_smoothing"),
        (f"{f}({x}, np.zeros(4, np.int64), label_smoothing=float('nan'))", "ValueError", op,
         "label_smoothing"),
        (f"{f}({x}, np.zeros(4, np.int64), label_smoothing='x')", "TypeError", op, "label_smoothing"),
    ])


def test_full_smoothing_equals_uniform_targets(dtype):
    x = randn((6, 13), dtype, seed=41, scale=2.0)
    uniform = np.full((6, 13), 1.0 / 13, dtype)
    for red in REDUCTIONS:
        got = K.softmax_cross_entropy(x, np.arange(6) % 13, label_smoothing=1.0, reduction=red)
        want = K.softmax_cross_entropy(x, uniform, reduction=red)
        for g, w in zip(got, want):
            assert_close(g, w, **tol(dtype), what=red)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("form", ["ids", "probs"])
def test_mean_gradient_is_the_row_gradient_times_one_over_n(dtype, smoothing, form, isa):
    # Keras reduces per-row losses itself: its gradient is the "none" gradient times an
    # upstream 1/N. The kernel's "mean" applies 1/N last, as a separate rounding, so torch,
    # the tape (mean in the kernel) and Keras train on the same bits.
    n, c = 37, 10
    logits = randn((n, c), dtype, seed=5) * 3
    labels = rng(6).integers(0, c, n)
    if form == "probs":
        labels = np.eye(c, dtype=dtype)[labels]
    _, d_none = K.softmax_cross_entropy(logits, labels, label_smoothing=smoothing, reduction="none")
    _, d_mean = K.softmax_cross_entropy(logits, labels, label_smoothing=smoothing, reduction="mean")
    np.testing.assert_array_equal(d_mean, d_none * (dtype(1) / dtype(n)))
