"""The torch custom ops as ops: torch.library.opcheck for every custom op (schema, fake
kernel, autograd registration, AOT dispatch with dynamic shapes), the eager
autograd.Function twins against the custom ops, shapes from the fake kernels on meta
tensors, need_* flags from ctx.needs_input_grad, and double backward refused."""

import pytest

import twincore.kernels as K
from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")
F = torch.nn.functional

import twincore.frontends.torch.functional as tcf  # noqa: E402
from twincore.frontends.torch import ops  # noqa: E402


def rnd(*shape, dtype=torch.float64, seed=0, grad=True, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(tuple(shape), generator=g, dtype=dtype) * scale).requires_grad_(grad)


def away_from_zero(x, margin=1e-2):
    with torch.no_grad():
        x[x.abs() < margin] = 0.5
    return x


# --- opcheck: every custom op, forward and backward ----------------------------------------

def _opcheck_cases():
    d = dict(dtype=torch.float64)
    x4 = lambda *s: rnd(*s, seed=40, **d)  # noqa: E731
    g = lambda *s: rnd(*s, seed=41, grad=False, **d)  # noqa: E731
    yield "relu", ops.relu, (away_from_zero(x4(3, 5)),), ("relu",)
    yield "relu_backward", ops.relu_backward, (g(3, 5), torch.relu(g(3, 5))), ("relu",)
    yield "tanh", ops.tanh, (x4(3, 5),), ("tanh",)
    yield "tanh_backward", ops.tanh_backward, (g(3, 5), torch.tanh(g(3, 5))), ("tanh",)
    yield "softmax", ops.softmax, (x4(3, 5),), ("softmax",)
    yield "softmax_backward", ops.softmax_backward, (g(3, 5), torch.softmax(g(3, 5), -1)), ("softmax",)
    yield "matmul", ops.matmul, (x4(4, 3), x4(5, 3), x4(5), False, True), ("matmul", "matmul_backward")
    yield "matmul_backward", ops.matmul_backward, (g(4, 5), g(4, 3), g(5, 3), False, True, True, False, True), \
        ("matmul_backward",)
    conv = ([1, 2], [1, 1], "explicit", [1, 1], "NCHW")
    yield "conv2d", ops.conv2d, (x4(2, 3, 6, 5), x4(4, 3, 3, 3), x4(4), *conv), ("conv2d", "conv2d_backward")
    yield "conv2d_backward", ops.conv2d_backward, (g(2, 4, 6, 3), g(2, 3, 6, 5), g(4, 3, 3, 3), *conv, True, True,
                                                   False), ("conv2d_backward",)
    yield "conv2d_same_nhwc", ops.conv2d, (x4(2, 6, 5, 3), x4(3, 3, 3, 4), None, [2, 2], [0, 0], "same", [1, 1],
                                           "NHWC"), ("conv2d", "conv2d_backward")
    pool = ([2, 2], [2, 2], [0, 0], "explicit", "NCHW")
    yield "max_pool2d", ops.max_pool2d, (x4(2, 3, 6, 5), *pool), ("max_pool2d", "max_pool2d_backward")
    y, idx = F.max_pool2d(g(2, 3, 6, 5), 2, return_indices=True)  # same index convention: h*W + w
    yield "max_pool2d_backward", ops.max_pool2d_backward, (g(*y.shape), idx, [2, 3, 6, 5], "NCHW"), \
        ("max_pool2d_backward",)
    yield "global_avg_pool2d", ops.global_avg_pool2d, (x4(2, 3, 6, 5), "NCHW"), ("global_avg_pool2d",
                                                                                 "global_avg_pool2d_backward")
    yield "global_avg_pool2d_backward", ops.global_avg_pool2d_backward, (g(2, 3), [2, 3, 6, 5], "NCHW"), \
        ("global_avg_pool2d_backward",)
    yield "softmax_cross_entropy", ops.softmax_cross_entropy, (x4(5, 4), torch.tensor([0, 3, 1, 2, 3]), 0.1,
                                                               "mean"), ("softmax_cross_entropy",)
    yield "softmax_cross_entropy_none", ops.softmax_cross_entropy, (x4(5, 4), torch.softmax(g(5, 4), -1), 0.0,
                                                                    "none"), ("softmax_cross_entropy",)
    yield "mse", ops.mse, (x4(4, 3), x4(4, 3), "mean"), ("mse", "mse_backward")
    yield "mse_backward", ops.mse_backward, (g(4, 3), g(4, 3), g(4, 3), "none"), ("mse_backward",)
    rot = ("bilinear", "zeros", 0.0, "NCHW")
    yield "rotate", ops.rotate, (x4(2, 2, 5, 6), x4(2), x4(2, 2), *rot), ("rotate", "rotate_backward")
    yield "rotate_backward", ops.rotate_backward, (g(2, 2, 5, 6), g(2, 2, 5, 6), g(2), g(2, 2), *rot, True, True,
                                                   False), ("rotate_backward",)
    # GAN ops (issue 16)
    yield "leaky_relu", ops.leaky_relu, (away_from_zero(x4(3, 5)), 0.2), ("leaky_relu",)
    yield "leaky_relu_backward", ops.leaky_relu_backward, (g(3, 5), g(3, 5), 0.2), ("leaky_relu",)
    yield "binary_cross_entropy_with_logits", ops.binary_cross_entropy_with_logits, \
        (x4(5, 3), torch.rand(5, 3, dtype=torch.float64), None, 0.1, "mean"), ("binary_cross_entropy_with_logits",)
    yield "binary_cross_entropy_with_logits_none", ops.binary_cross_entropy_with_logits, \
        (x4(5, 3), torch.rand(5, 3, dtype=torch.float64), torch.rand(3, dtype=torch.float64), 0.0, "none"), \
        ("binary_cross_entropy_with_logits",)
    convt = ([2, 2], [1, 1], "explicit", [1, 0], [1, 1], "NCHW")
    yield "conv_transpose2d", ops.conv_transpose2d, (x4(2, 3, 4, 5), x4(3, 2, 4, 3), x4(2), *convt), \
        ("conv_transpose2d",)
    yield "conv_transpose2d_backward", ops.conv_transpose2d_backward, \
        (g(2, 2, 9, 9), g(2, 3, 4, 5), g(3, 2, 4, 3), *convt, True, True, True), ("conv_transpose2d",)
    yield "batch_norm", ops.batch_norm, (x4(4, 3, 2, 5), x4(3), x4(3), 1e-5, "NCHW"), ("batch_norm",)
    yield "batch_norm_backward", ops.batch_norm_backward, \
        (g(4, 3, 2, 5), g(4, 3, 2, 5), g(3), g(3), g(3).abs() + 0.5, 1e-5, "NCHW", True, True, True), ("batch_norm",)
    yield "batch_norm_inference", ops.batch_norm_inference, \
        (g(4, 2, 5, 3), g(3), g(3), g(3), g(3).abs() + 0.5, 1e-3, "NHWC"), ("batch_norm",)
    yield "conv_transpose2d_same_nhwc", ops.conv_transpose2d, \
        (x4(2, 4, 5, 3), x4(4, 4, 2, 3), None, [2, 2], [0, 0], "same", [-1, -1], [1, 1], "NHWC"), ("conv_transpose2d",)


def _lstm_opcheck_cases():  # issue 16, LSTM half
    d = dict(dtype=torch.float64)
    x4 = lambda *s: rnd(*s, seed=42, **d)  # noqa: E731
    g = lambda *s: rnd(*s, seed=43, grad=False, **d)  # noqa: E731
    yield "sigmoid", ops.sigmoid, (x4(3, 5),), ("sigmoid",)
    yield "sigmoid_backward", ops.sigmoid_backward, (g(3, 5), torch.sigmoid(g(3, 5))), ("sigmoid",)
    ids = torch.tensor([[0, 2, 2], [1, 4, 0]])
    yield "embedding", ops.embedding, (ids, x4(5, 3), None), ("embedding",)
    yield "embedding_backward", ops.embedding_backward, (g(2, 3, 3), ids, 5, 1), ("embedding",)
    T, B, I, H = 4, 2, 3, 5
    w = (x4(4 * H, I), x4(4 * H, H), x4(4 * H), x4(B, H), x4(B, H))
    yield "lstm", ops.lstm, (x4(T, B, I), *w, False, True), ("lstm",)
    yield "lstm_last_state", ops.lstm, (x4(B, T, I), w[0], w[1], None, None, None, True, False), ("lstm",)
    _, _, _, ws = ops.lstm(g(T, B, I), *(v.detach() for v in w), False, True)
    yield "lstm_backward", ops.lstm_backward, (g(T, B, H), g(B, H), None, g(T, B, I), w[0].detach(), w[1].detach(),
                                               w[3].detach(), None, ws, False, True), ("lstm",)


_CASES = list(_opcheck_cases()) + list(_lstm_opcheck_cases())


@pytest.mark.parametrize("name,op,args,kernels", _CASES, ids=[c[0] for c in _CASES])
def test_opcheck(name, op, args, kernels):
    if not all(hasattr(K, k) for k in kernels):
        pytest.skip("kernel not landed")
    torch.library.opcheck(op, args)


def test_every_custom_op_is_opchecked():
    checked = {c[1] for c in _CASES}
    missing = [name for name, op in ops.ALL_OPS.items() if op not in checked]
    assert not missing, f"custom ops without an opcheck case: {missing}"


_FORWARD_CASES = [c for c in _CASES if hasattr(c[1], "eager")]


@pytest.mark.parametrize("name,op,args,kernels", _FORWARD_CASES, ids=[c[0] for c in _FORWARD_CASES])
def test_eager_twin_matches_custom_op(name, op, args, kernels):
    """functional calls op.eager (an autograd.Function) in eager mode and the custom op under
    compile: both must give the same values and gradients."""
    if not all(hasattr(K, k) for k in kernels):
        pytest.skip("kernel not landed")
    outs = [op(*args), op.eager(*args)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    diff = [t for t in args if isinstance(t, torch.Tensor) and t.requires_grad]
    up = rnd(*outs[0][0].shape, seed=42, grad=False)
    g_op = torch.autograd.grad(outs[0][0], diff, up)
    g_eager = torch.autograd.grad(outs[1][0], diff, up)
    for a, b in zip(g_op, g_eager):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_meta_tensors_get_shapes_from_the_fake_kernels():
    """Shape inference without data (Keras's symbolic build on the torch backend)."""
    m = lambda *s: torch.empty(s, device="meta")  # noqa: E731
    assert tcf.conv2d(m(2, 3, 9, 8), m(4, 3, 3, 3), m(4), 2, "same").shape == (2, 4, 5, 4)
    assert tcf.conv2d(m(2, 9, 8, 3), m(3, 3, 3, 4), None, 1, "valid", layout="NHWC").shape == (2, 7, 6, 4)
    assert tcf.conv2d(m(1, 2, 7, 7), m(5, 2, 3, 3), None, (2, 1), (1, 0), (1, 2)).shape == (1, 5, 4, 3)
    assert tcf.max_pool2d(m(2, 3, 9, 8), 2).shape == (2, 3, 4, 4)
    assert tcf.max_pool2d(m(2, 9, 8, 3), 3, 2, "same", layout="NHWC").shape == (2, 5, 4, 3)
    assert tcf.linear(m(5, 2, 7), m(3, 7), m(3)).shape == (5, 2, 3)
    assert tcf.matmul(m(4, 2, 7), m(7, 3)).shape == (4, 2, 3)
    assert tcf.global_avg_pool2d(m(2, 3, 9, 8)).shape == (2, 3)
    assert tcf.rotate(m(2, 3, 9, 8), 10.0, (1, 2)).shape == (2, 3, 9, 8)
    assert tcf.cross_entropy(m(5, 4), torch.empty(5, dtype=torch.int64, device="meta")).shape == ()
    assert tcf.mse_loss(m(5, 4), m(5, 4), "none").shape == (5, 4)
    assert tcf.softmax(m(5, 4)).shape == tcf.relu(m(5, 4)).shape == tcf.tanh(m(5, 4)).shape == (5, 4)


@pytest.mark.parametrize("path", ["eager", "custom_op"])
def test_backward_kernels_get_need_flags_from_needs_input_grad(monkeypatch, path):
    """Only the gradients autograd asks for are computed (need_* flags reach the kernels)."""
    if not all(hasattr(K, k) for k in ("matmul_backward", "conv2d_backward", "rotate_backward")):
        pytest.skip("kernels not landed")
    seen = {}

    def spy(name):
        real = getattr(K, name)

        def wrapper(*args, **kw):
            seen[name] = {k: v for k, v in kw.items() if k.startswith("need_")}
            return real(*args, **kw)
        monkeypatch.setattr(K, name, wrapper)

    for name in ("matmul_backward", "conv2d_backward", "rotate_backward"):
        spy(name)
    run = (lambda op, *a: op.eager(*a)) if path == "eager" else (lambda op, *a: op(*a))
    x, w = rnd(3, 4, seed=50, grad=False), rnd(5, 4, seed=51)
    run(ops.matmul, x, w, rnd(5, seed=52, grad=False), False, True).sum().backward()
    assert seen["matmul_backward"] == {"need_a": False, "need_b": True, "need_bias": False}
    xc, wc = rnd(1, 2, 5, 5, seed=53), rnd(3, 2, 3, 3, seed=54, grad=False)
    run(ops.conv2d, xc, wc, rnd(3, seed=55), [1, 1], [1, 1], "explicit", [1, 1], "NCHW").sum().backward()
    assert seen["conv2d_backward"] == {"need_x": True, "need_w": False, "need_bias": True}
    img = rnd(1, 1, 4, 4, seed=56, grad=False)
    angle = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    run(ops.rotate, img, angle, torch.zeros(2, dtype=torch.float64), "bilinear", "zeros", 0.0, "NCHW").sum().backward()
    assert seen["rotate_backward"] == {"need_images": False, "need_angle": True, "need_translate": False}


def test_double_backward_is_an_error_not_silent_zeros():
    x = rnd(3, 4, seed=60)
    for y in (tcf.tanh(x), ops.tanh(x)):  # eager twin and custom op
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        with pytest.raises(RuntimeError):
            g.sum().backward()


def test_inference_path_skips_autograd_and_matches():
    """Without gradients to record, functional calls the kernel directly: same values, no graph."""
    x, w, b = rnd(2, 3, 6, 5, seed=70), rnd(4, 3, 3, 3, seed=71), rnd(4, seed=72)
    with_grad = tcf.conv2d(x, w, b, 1, "same")
    with torch.no_grad():
        no_grad = tcf.conv2d(x, w, b, 1, "same")
    plain = tcf.conv2d(x.detach(), w.detach(), b.detach(), 1, "same")
    assert with_grad.grad_fn is not None and no_grad.grad_fn is None and plain.grad_fn is None
    torch.testing.assert_close(no_grad, with_grad.detach(), rtol=0, atol=0)
    torch.testing.assert_close(plain, with_grad.detach(), rtol=0, atol=0)
    a, m = rnd(4, 5, seed=73, grad=False), rnd(3, 5, seed=74, grad=False)
    with torch.inference_mode():
        torch.testing.assert_close(tcf.linear(a, m), F.linear(a, m))
