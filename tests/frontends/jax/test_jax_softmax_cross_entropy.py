"""twincore.jax.softmax_cross_entropy: parity with the NumPy reference and jax.nn's
log_softmax, float64 gradients, jit == eager, labels out of range named at run time."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import softmax_cross_entropy as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


def _theirs(logits, targets, reduction):
    per_row = -(targets * jax.nn.log_softmax(logits)).sum(-1)
    return {"none": per_row, "mean": per_row.mean(), "sum": per_row.sum()}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels_kind", ["int32", "int64", "probs"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_parity(reduction, labels_kind, smoothing, dtype):
    rng = np.random.default_rng(12)
    n, c = 7, 10
    logits = rand(rng, (n, c), dtype) * 4
    if labels_kind == "probs":
        labels = rng.dirichlet(np.ones(c), n).astype(dtype)
    else:
        labels = rng.integers(0, c, n).astype(labels_kind)
    f = lambda z: tj.softmax_cross_entropy(z, labels, smoothing, reduction)  # noqa: E731
    loss = jit_equal(f, logits)
    ref_loss, ref_grad = R.softmax_cross_entropy(logits, labels, smoothing, reduction)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    targets = R.targets(labels, c, smoothing).astype(dtype)
    np.testing.assert_allclose(loss, _theirs(logits, targets, reduction), **TOL[dtype])
    g = rand(rng, np.shape(loss), dtype)
    ours = jax.vjp(f, logits)[1](g)[0]
    np.testing.assert_allclose(ours, jax.vjp(lambda z: _theirs(z, targets, reduction), logits)[1](g)[0],
                               **TOL[dtype])
    np.testing.assert_allclose(ours, ref_grad * (g[:, None] if reduction == "none" else g), **TOL[dtype])


def test_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    loss = tj.softmax_cross_entropy(logits, np.array([1, 1], np.int32), reduction="none")
    np.testing.assert_allclose(loss, [2e4, 0.0], rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradients_float64(reduction):
    rng = np.random.default_rng(13)
    labels = np.array([0, 3, 2, 1])
    grads(lambda z: tj.softmax_cross_entropy(z, labels, 0.2, reduction), (rand(rng, (4, 5)),))
    probs = rng.dirichlet(np.ones(5), 4)
    grads(lambda z: tj.softmax_cross_entropy(z, probs, 0.0, reduction), (rand(rng, (4, 5)),))


def test_grad_under_jit_and_vmap():
    rng = np.random.default_rng(14)
    logits, labels = rand(rng, (3, 4, 6), np.float32), rng.integers(0, 6, (3, 4)).astype(np.int32)
    f = jax.grad(lambda z, y: tj.softmax_cross_entropy(z, y))
    np.testing.assert_array_equal(jax.jit(f)(logits[0], labels[0]), f(logits[0], labels[0]))
    losses = jax.vmap(tj.softmax_cross_entropy)(logits, labels)
    for i in range(3):
        np.testing.assert_array_equal(losses[i], tj.softmax_cross_entropy(logits[i], labels[i]))


def test_bad_input_names_op_and_argument():
    z = np.ones((4, 5), np.float32)
    with raises(ValueError, "softmax_cross_entropy", "labels"):
        tj.softmax_cross_entropy(z, np.zeros(3, np.int32))
    with raises(ValueError, "softmax_cross_entropy", "labels"):
        tj.softmax_cross_entropy(z, np.zeros(4, np.float32))  # probabilities are [N, C]
    with raises(TypeError, "softmax_cross_entropy", "labels"):
        tj.softmax_cross_entropy(z, np.zeros(4, np.uint8))
    with raises(ValueError, "softmax_cross_entropy", "label_smoothing"):
        tj.softmax_cross_entropy(z, np.zeros(4, np.int32), 1.5)
    with raises(ValueError, "softmax_cross_entropy", "reduction"):
        tj.softmax_cross_entropy(z, np.zeros(4, np.int32), reduction="avg")
    with raises(ValueError, "softmax_cross_entropy", "logits"):
        tj.softmax_cross_entropy(z[0], np.zeros(4, np.int32))
    # class ids are values: the kernel finds them when it runs (eagerly and under jit)
    bad = np.array([0, 1, 5, 2], np.int32)
    with raises(Exception, "softmax_cross_entropy", "labels"):
        np.asarray(tj.softmax_cross_entropy(z, bad))
    with raises(Exception, "softmax_cross_entropy", "labels"):
        np.asarray(jax.jit(tj.softmax_cross_entropy)(z, bad))
