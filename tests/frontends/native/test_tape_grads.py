"""The tape's gradients on random small graphs (branches, reuse, residual adds, shared
parameters, broadcasting) against finite differences in float64, the composed kernel
backwards, and torch autograd on the same graph."""

import numpy as np
import pytest

import twincore.frontends.native as tn
import twincore.kernels as K
from twincore.testing import AWKWARD_SIZES, assert_close, check_grads, randn, tol
from support import requires_torch

F64 = np.float64


def tape_grads(graph, arrays, dtype=F64):
    """Gradients of graph(tn, *tensors) w.r.t. every input, through one GradientTape."""
    ts = [tn.Tensor(np.asarray(a, dtype)) for a in arrays]
    with tn.GradientTape() as tape:
        tape.watch(ts)
        loss = graph(tn, *ts)
    grads = tape.gradient(loss, ts)
    return loss.item(), [None if g is None else g.numpy() for g in grads]


def fd_check(graph, arrays, rtol=1e-6, atol=1e-8):
    arrays = [np.array(a, F64) for a in arrays]
    _, grads = tape_grads(graph, arrays)
    check_grads(lambda: graph(tn, *[tn.Tensor(a) for a in arrays]).item(), arrays, grads,
                rtol=rtol, atol=atol)
    return grads


class TorchOps:
    """The few ops the graphs use, on torch, to run the same graph under torch autograd."""

    def __init__(self):
        import torch
        import torch.nn.functional as Fn

        self.torch, self.Fn = torch, Fn

    def matmul(self, a, b, bias=None, trans_a=False, trans_b=False):
        a = a.T if trans_a else a
        b = b.T if trans_b else b
        c = a @ b
        return c if bias is None else c + bias

    def relu(self, x):
        return self.torch.relu(x)

    def tanh(self, x):
        return self.torch.tanh(x)

    def softmax(self, x):
        return self.torch.softmax(x, -1)

    def mse(self, p, t, reduction="mean"):
        return self.Fn.mse_loss(p, self.torch.as_tensor(np.asarray(t)), reduction=reduction)

    def softmax_cross_entropy(self, logits, labels, label_smoothing=0.0, reduction="mean"):
        return self.Fn.cross_entropy(logits, self.torch.as_tensor(np.asarray(labels)),
                                     label_smoothing=label_smoothing, reduction=reduction)

    def reduce_sum(self, x):
        return x.sum()

    def reduce_mean(self, x):
        return x.mean()

    def reshape(self, x, shape):
        return x.reshape(shape)

    def flatten(self, x):
        return x.reshape(x.shape[0], -1)


def torch_grads(graph, arrays):
    import torch

    ts = [torch.tensor(np.asarray(a, F64), requires_grad=True) for a in arrays]
    loss = graph(TorchOps(), *ts)
    grads = torch.autograd.grad(loss, ts, allow_unused=True)
    return loss.item(), [None if g is None else g.numpy() for g in grads]


# ---- the graphs: written once, run on the core tape and on torch ----

def chain(F, x, w1, b1, w2, b2, t):
    h = F.tanh(F.matmul(x, w1, b1))
    return F.mse(F.relu(F.matmul(h, w2, b2)), t)  # t: a constant numpy array


def branchy(F, x, w, v, u):
    """A branch, a tensor used three times, a residual add and a shared parameter (w twice)."""
    h = F.tanh(F.matmul(x, w))            # [n, d]
    r = h + F.relu(F.matmul(h, v))        # residual connection
    s = F.matmul(r, w)                    # w reused: gradients must add up
    z = r * s - h * u                     # reuse of r and h, broadcast of u [d]
    return F.reduce_mean(z * z) + F.reduce_sum(h)


def broadcasting(F, a, b, c):
    """[3,1,4] with [5,1] and [4]: add, sub and mul with axes summed back in the backward."""
    y = (a + b) * c - b
    return F.reduce_sum(F.tanh(y) * y)


def _chain_arrays(n, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal((n, 5)), r.standard_normal((5, 7)) * 0.5, r.standard_normal(7) * 0.1,
            r.standard_normal((7, 3)) * 0.5, r.standard_normal(3) * 0.1, r.standard_normal((n, 3))]


@pytest.mark.parametrize("n", AWKWARD_SIZES[:4])
def test_chain_matches_finite_differences(n):
    arrays = _chain_arrays(n)
    # the target t is a constant here: differentiate w.r.t. the first five only
    graph = lambda F, x, w1, b1, w2, b2: chain(F, x, w1, b1, w2, b2, arrays[5])  # noqa: E731
    fd_check(graph, arrays[:5])


def test_chain_equals_composed_kernel_backwards():
    x, w1, b1, w2, b2, t = _chain_arrays(17)
    # forward with the kernels, then each kernel's backward by hand
    a1 = x @ w1 + b1
    h = K.tanh(a1)
    a2 = h @ w2 + b2
    y = K.relu(a2)
    g_y = 2 * (y - t) / y.size
    g_a2 = K.relu_backward(g_y, y)
    g_w2, g_b2, g_h = h.T @ g_a2, g_a2.sum(0), g_a2 @ w2.T
    g_a1 = K.tanh_backward(g_h, h)
    g_x, g_w1, g_b1 = g_a1 @ w1.T, x.T @ g_a1, g_a1.sum(0)
    graph = lambda F, x, w1, b1, w2, b2: chain(F, x, w1, b1, w2, b2, t)  # noqa: E731
    _, grads = tape_grads(graph, [x, w1, b1, w2, b2])
    for got, want, name in zip(grads, [g_x, g_w1, g_b1, g_w2, g_b2], ["x", "w1", "b1", "w2", "b2"]):
        assert_close(got, want, rtol=1e-10, atol=1e-12, what=name)


@pytest.mark.parametrize("n", [1, 3, 17])
def test_branches_reuse_residual_shared_parameter(n):
    r = np.random.default_rng(n)
    arrays = [r.standard_normal((n, 4)), r.standard_normal((4, 4)) * 0.7, r.standard_normal((4, 4)) * 0.7,
              r.standard_normal(4)]
    fd_check(branchy, arrays)


def test_broadcasting_grads():
    r = np.random.default_rng(1)
    arrays = [r.standard_normal((3, 1, 4)), r.standard_normal((5, 1)), r.standard_normal(4)]
    grads = fd_check(broadcasting, arrays)
    assert [g.shape for g in grads] == [(3, 1, 4), (5, 1), (4,)]


def test_softmax_and_losses_grads():
    r = np.random.default_rng(2)
    x, w = r.standard_normal((6, 5)), r.standard_normal((4, 5))
    labels = r.integers(0, 4, 6)
    probs = r.dirichlet(np.ones(4), 6)
    target = r.standard_normal((6, 4))

    weights = r.standard_normal(6)

    def g(F, x, w):
        logits = F.matmul(x, w, trans_b=True)
        sm = F.softmax(logits)
        return (F.softmax_cross_entropy(logits, labels, label_smoothing=0.1)
                + F.softmax_cross_entropy(logits, probs, reduction="sum")
                + F.reduce_sum(F.softmax_cross_entropy(logits, labels, reduction="none") * weights)
                + F.mse(sm, target, reduction="sum") * 0.5
                + F.reduce_mean(F.mse(logits, target, reduction="none") * sm))
    fd_check(g, [x, w])


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_transposes_and_3d(ta, tb):
    r = np.random.default_rng(3)
    M, K_, N = 3, 5, 4
    a = r.standard_normal((K_, M) if ta else (M, K_))
    b = r.standard_normal((N, K_) if tb else (K_, N))
    bias = r.standard_normal(N)
    g = lambda F, a, b, bias: F.reduce_sum(F.tanh(F.matmul(a, b, bias, trans_a=ta, trans_b=tb)))  # noqa: E731
    fd_check(g, [a, b, bias])
    a3 = r.standard_normal((2, 3, K_))
    g3 = lambda F, a, b: F.reduce_sum(F.tanh(F.matmul(a, b, trans_b=tb)))  # noqa: E731
    fd_check(g3, [a3, b])


def test_reshape_flatten_grads():
    r = np.random.default_rng(4)
    x, w = r.standard_normal((3, 2, 2, 5)), r.standard_normal((20, 2))
    g = lambda F, x, w: F.reduce_sum(F.tanh(F.matmul(F.flatten(x), w)) * 1.5)  # noqa: E731
    fd_check(g, [x, w])


def test_float32_matches_float64():
    arrays = [randn((9, 4), seed=5), randn((4, 4), seed=6) * 0.7, randn((4, 4), seed=7) * 0.7, randn(4, seed=8)]
    l64, g64 = tape_grads(branchy, arrays, F64)
    l32, g32 = tape_grads(branchy, arrays, np.float32)
    assert abs(l32 - l64) < 1e-4 * max(1, abs(l64))
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        assert_close(a, b, **tol(np.float32))


@requires_torch
@pytest.mark.parametrize("graph,shapes", [
    (branchy, [(7, 4), (4, 4), (4, 4), (4,)]),
    (broadcasting, [(3, 1, 4), (5, 1), (4,)]),
])
def test_same_graph_as_torch_autograd(graph, shapes):
    r = np.random.default_rng(9)
    arrays = [r.standard_normal(s) * 0.7 for s in shapes]
    l_ours, g_ours = tape_grads(graph, arrays)
    l_torch, g_torch = torch_grads(graph, arrays)
    assert abs(l_ours - l_torch) < 1e-10 * max(1, abs(l_torch))
    for a, b in zip(g_ours, g_torch):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


@requires_torch
def test_chain_and_losses_as_torch():
    import torch

    r = np.random.default_rng(10)
    x, w1, b1, w2 = r.standard_normal((8, 5)), r.standard_normal((5, 6)), r.standard_normal(6), r.standard_normal((6, 3))
    labels = r.integers(0, 3, 8)

    def g(F, x, w1, b1, w2):
        logits = F.matmul(F.relu(F.matmul(x, w1, b1)), w2)
        return F.softmax_cross_entropy(logits, labels, label_smoothing=0.2)
    l_ours, g_ours = tape_grads(g, [x, w1, b1, w2])
    l_torch, g_torch = torch_grads(g, [x, w1, b1, w2])
    assert abs(l_ours - l_torch) < 1e-10
    for a, b in zip(g_ours, g_torch):
        assert_close(a, b, rtol=1e-9, atol=1e-12)
    del torch
