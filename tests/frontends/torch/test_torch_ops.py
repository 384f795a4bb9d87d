"""The torch custom ops: parity (forward and backward) with torch's native ops on random
configurations, torch.autograd.gradcheck in float64 (incl. non-contiguous inputs and
inputs that do not require grad), and torch.library.opcheck for every custom op."""

import math

import pytest

import twincore.kernels as K
from support import requires_torch


def requires_kernels(*names):
    """Skip until these kernels have landed in twincore.kernels (written in parallel)."""
    missing = [n for n in names if not hasattr(K, n)]
    return pytest.mark.skipif(bool(missing), reason=f"twincore.kernels lacks {missing} (not landed yet)")


pytestmark = requires_torch
torch = pytest.importorskip("torch")
F = torch.nn.functional

import twincore.frontends.torch.functional as tcf  # noqa: E402
from twincore.frontends.torch import ops  # noqa: E402

DTYPES = [torch.float32, torch.float64]


def rnd(*shape, dtype=torch.float64, seed=0, grad=True, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(tuple(shape), generator=g, dtype=dtype) * scale).requires_grad_(grad)


def tols(dtype):
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-11}


def check_parity(ours, native, inputs, dtype, seed=100, tol=None):
    """Forward outputs equal, and the gradients of <out, random upstream> w.r.t. every input
    that requires grad equal too."""
    tol = tol or tols(dtype)
    y, y_ref = ours(*inputs), native(*inputs)
    assert y.dtype == y_ref.dtype and y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, **tol)
    diff = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff:
        return
    up = rnd(*y.shape, dtype=y.dtype, seed=seed, grad=False)
    g = torch.autograd.grad(y, diff, up)
    g_ref = torch.autograd.grad(y_ref, diff, up)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, **tol)


def gradcheck(fn, inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def away_from_zero(x, margin=1e-2):
    with torch.no_grad():
        x[x.abs() < margin] = 0.5
    return x


# --- activations, softmax -------------------------------------------------------------------

ELEMENTWISE = [(tcf.relu, torch.relu), (tcf.tanh, torch.tanh), (tcf.softmax, lambda x: torch.softmax(x, -1))]
EW_IDS = ["relu", "tanh", "softmax"]


def _need(fn):
    return {tcf.relu: "relu", tcf.tanh: "tanh", tcf.softmax: "softmax"}[fn]


@pytest.mark.parametrize("ours,native", ELEMENTWISE, ids=EW_IDS)
@pytest.mark.parametrize("shape", [(1,), (3, 17), (127, 3), (2, 5, 513)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_parity(ours, native, shape, dtype):
    if not hasattr(K, _need(ours)):
        pytest.skip("kernel not landed")
    x = away_from_zero(rnd(*shape, dtype=dtype, seed=len(shape), scale=3.0))
    check_parity(ours, native, [x], dtype)


@pytest.mark.parametrize("ours", [f for f, _ in ELEMENTWISE], ids=EW_IDS)
def test_elementwise_gradcheck_non_contiguous(ours):
    if not hasattr(K, _need(ours)):
        pytest.skip("kernel not landed")
    x = away_from_zero(rnd(9, 6, seed=3, grad=False)).t()[:, ::2].requires_grad_()  # [6, 5] strided view
    assert not x.is_contiguous()
    gradcheck(ours, (x,))


# --- linear / matmul ------------------------------------------------------------------------

@requires_kernels("matmul", "matmul_backward")
@pytest.mark.parametrize("lead,n_in,n_out", [((1,), 1, 1), ((3,), 17, 5), ((127,), 33, 10), ((2, 3), 13, 7),
                                             ((), 4, 3)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_parity(lead, n_in, n_out, bias, dtype):
    x = rnd(*lead, n_in, dtype=dtype, seed=1)
    w = rnd(n_out, n_in, dtype=dtype, seed=2)
    b = rnd(n_out, dtype=dtype, seed=3) if bias else None
    check_parity(tcf.linear, F.linear, [x, w, b], dtype)


@requires_kernels("matmul", "matmul_backward")
@pytest.mark.parametrize("sa,sb", [((3, 17), (17, 5)), ((4, 3, 17), (17, 5)), ((4, 3, 17), (4, 17, 2)),
                                   ((1, 1), (1, 1))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_parity(sa, sb, dtype):
    check_parity(tcf.matmul, torch.matmul, [rnd(*sa, dtype=dtype, seed=4), rnd(*sb, dtype=dtype, seed=5)], dtype)


@requires_kernels("matmul", "matmul_backward")
def test_linear_gradcheck_non_contiguous_and_partial_grad():
    x = rnd(12, 7, seed=6, grad=False)[::2].requires_grad_()      # sliced rows
    w = rnd(7, 4, seed=7).detach().t().requires_grad_()           # transposed [4, 7]
    b = rnd(4, seed=8)
    gradcheck(tcf.linear, (x, w, b))
    gradcheck(tcf.linear, (x.detach(), w, b.detach()))            # x and bias without grad
    gradcheck(tcf.linear, (x, w.detach(), None))
    gradcheck(tcf.matmul, (rnd(2, 3, 5, seed=9), rnd(5, 4, seed=10, grad=False)))
    gradcheck(tcf.matmul, (rnd(3, 5, seed=11), rnd(5, 4, seed=12), rnd(4, seed=13)))  # Keras Dense: kernel [in, out]
    check_parity(tcf.matmul, lambda a, b, c: a @ b + c, [rnd(3, 5, seed=11), rnd(5, 4, seed=12), rnd(4, seed=13)],
                 torch.float64)


# --- conv2d ---------------------------------------------------------------------------------

def tf_same_pads(n, k, s, d):
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def native_conv2d(x, w, b, stride, padding, dilation):
    s = (stride, stride) if isinstance(stride, int) else stride
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    if padding == "same":  # TF's rule (asymmetric when odd), spelled out with F.pad
        ph = tf_same_pads(x.shape[2], w.shape[2], s[0], d[0])
        pw = tf_same_pads(x.shape[3], w.shape[3], s[1], d[1])
        return F.conv2d(F.pad(x, (*pw, *ph)), w, b, s, 0, d)
    return F.conv2d(x, w, b, s, 0 if padding == "valid" else padding, d)


CONV_CASES = [  # N, C, H, W, O, KH, KW, stride, padding, dilation
    (2, 3, 7, 9, 4, 3, 3, 1, 0, 1),
    (1, 2, 8, 8, 3, 3, 3, 2, 1, 1),
    (2, 1, 9, 7, 2, 3, 2, (2, 1), (1, 0), (1, 2)),
    (1, 3, 5, 5, 2, 3, 3, 1, "same", 1),
    (2, 2, 7, 6, 3, 3, 3, 2, "same", 1),
    (1, 2, 6, 6, 2, 2, 2, 1, "valid", 1),
    (3, 1, 1, 1, 1, 1, 1, 1, 0, 1),
    (1, 17, 4, 3, 3, 1, 1, 1, 0, 1),
]


@requires_kernels("conv2d", "conv2d_backward")
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv2d_parity(case, dtype, layout):
    n, c, h, w_, o, kh, kw, stride, padding, dilation = case
    x = rnd(n, c, h, w_, dtype=dtype, seed=11)
    w = rnd(o, c, kh, kw, dtype=dtype, seed=12)
    b = rnd(o, dtype=dtype, seed=13)
    if layout == "NCHW":
        ours = lambda x, w, b: tcf.conv2d(x, w, b, stride, padding, dilation)  # noqa: E731
    else:  # same numbers, channels-last tensors and HWIO weights
        ours = lambda x, w, b: tcf.conv2d(x.permute(0, 2, 3, 1).contiguous(), w.permute(2, 3, 1, 0).contiguous(),  # noqa: E731
                                          b, stride, padding, dilation, layout="NHWC").permute(0, 3, 1, 2)
    check_parity(ours, lambda x, w, b: native_conv2d(x, w, b, stride, padding, dilation), [x, w, b], dtype)


@requires_kernels("conv2d", "conv2d_backward")
def test_conv2d_gradcheck_non_contiguous_and_partial_grad():
    x = rnd(2, 4, 5, 2, seed=14, grad=False).permute(0, 3, 1, 2).requires_grad_()  # [2,2,4,5], channels-last memory
    w = rnd(2, 2, 3, 3, seed=15)
    b = rnd(2, seed=16)
    assert not x.is_contiguous()
    gradcheck(lambda x, w, b: tcf.conv2d(x, w, b, 2, "same"), (x, w, b))
    gradcheck(lambda x, w: tcf.conv2d(x, w, None, 1, 1, 2), (x.detach(), w))
    gradcheck(lambda x, w, b: tcf.conv2d(x, w, b, (1, 2), (0, 1), layout="NHWC"),
              (rnd(1, 5, 4, 2, seed=17), rnd(2, 2, 2, 3, seed=18, grad=False), rnd(3, seed=19)))


# --- pooling --------------------------------------------------------------------------------

POOL_CASES = [  # N, C, H, W, kernel, stride, padding
    (2, 3, 8, 8, 2, None, 0),
    (1, 2, 7, 9, 3, 2, 1),
    (2, 1, 5, 6, (2, 3), (1, 2), (1, 1)),
    (1, 1, 1, 1, 1, None, 0),
    (2, 2, 7, 7, 2, 2, "same"),
    (1, 3, 6, 5, 3, 1, "valid"),
    (1, 17, 3, 4, 2, 1, 0),
]


def native_max_pool(x, k, s, p):
    s = k if s is None else s
    if p == "same":
        kk = (k, k) if isinstance(k, int) else k
        ss = (s, s) if isinstance(s, int) else s
        ph, pw = tf_same_pads(x.shape[2], kk[0], ss[0], 1), tf_same_pads(x.shape[3], kk[1], ss[1], 1)
        return F.max_pool2d(F.pad(x, (*pw, *ph), value=-math.inf), k, s)
    return F.max_pool2d(x, k, s, 0 if p == "valid" else p)


@requires_kernels("max_pool2d", "max_pool2d_backward")
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_max_pool2d_parity(case, dtype, layout):
    n, c, h, w, k, s, p = case
    x = rnd(n, c, h, w, dtype=dtype, seed=20)
    if layout == "NCHW":
        ours = lambda x: tcf.max_pool2d(x, k, s, p)  # noqa: E731
    else:
        ours = lambda x: tcf.max_pool2d(x.permute(0, 2, 3, 1).contiguous(), k, s, p,  # noqa: E731
                                        layout="NHWC").permute(0, 3, 1, 2)
    check_parity(ours, lambda x: native_max_pool(x, k, s, p), [x], dtype)


@requires_kernels("global_avg_pool2d", "global_avg_pool2d_backward")
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 5, 7), (3, 17, 4, 4), (1, 2, 127, 3)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_global_avg_pool2d_parity(shape, dtype, layout):
    x = rnd(*shape, dtype=dtype, seed=21)
    if layout == "NCHW":
        ours = tcf.global_avg_pool2d
    else:
        ours = lambda x: tcf.global_avg_pool2d(x.permute(0, 2, 3, 1).contiguous(), layout="NHWC")  # noqa: E731
    check_parity(ours, lambda x: x.mean((2, 3)), [x], dtype)


@requires_kernels("max_pool2d", "max_pool2d_backward", "global_avg_pool2d", "global_avg_pool2d_backward")
def test_pool_gradcheck_non_contiguous():
    x = rnd(1, 5, 4, 3, seed=22, grad=False).permute(0, 3, 1, 2).requires_grad_()  # [1,3,5,4]
    gradcheck(lambda x: tcf.max_pool2d(x, 2, 1, 1), (x,))
    gradcheck(lambda x: tcf.max_pool2d(x, 3, 2, "same", layout="NHWC"), (rnd(1, 5, 4, 2, seed=23),))
    gradcheck(tcf.global_avg_pool2d, (x,))
    gradcheck(lambda x: tcf.global_avg_pool2d(x, layout="NHWC"), (x,))


# --- losses ---------------------------------------------------------------------------------

@requires_kernels("softmax_cross_entropy")
@pytest.mark.parametrize("n,c", [(1, 1), (3, 5), (17, 10), (127, 3)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("probs", [False, True], ids=["ids", "probs"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_parity(n, c, smoothing, reduction, probs, dtype):
    logits = rnd(n, c, dtype=dtype, seed=24, scale=3.0)
    g = torch.Generator().manual_seed(25)
    target = (torch.softmax(torch.randn(n, c, generator=g, dtype=dtype), -1) if probs
              else torch.randint(0, c, (n,), generator=g))
    check_parity(lambda l, t: tcf.cross_entropy(l, t, smoothing, reduction),
                 lambda l, t: F.cross_entropy(l, t, label_smoothing=smoothing, reduction=reduction),
                 [logits, target], dtype)


@requires_kernels("softmax_cross_entropy")
def test_cross_entropy_int32_targets_and_extreme_logits():
    logits = (rnd(6, 4, seed=26, grad=False) * 1e4).requires_grad_()
    target = torch.tensor([0, 1, 2, 3, 1, 0], dtype=torch.int32)
    check_parity(lambda l, t: tcf.cross_entropy(l, t), lambda l, t: F.cross_entropy(l, t.long()),
                 [logits, target], torch.float64)


@requires_kernels("softmax_cross_entropy")
def test_cross_entropy_gradcheck():
    logits = rnd(7, 4, seed=27, grad=False)[:, ::1].t().contiguous().t().requires_grad_()  # column-major
    assert not logits.is_contiguous()
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda l: tcf.cross_entropy(l, torch.arange(7) % 4, 0.2, reduction), (logits,))
        probs = torch.softmax(rnd(7, 4, seed=28, grad=False), -1)
        gradcheck(lambda l: tcf.cross_entropy(l, probs, 0.0, reduction), (logits,))


@requires_kernels("mse", "mse_backward")
@pytest.mark.parametrize("shape", [(1,), (3, 17), (127, 1), (2, 3, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_parity(shape, reduction, dtype):
    pred, target = rnd(*shape, dtype=dtype, seed=29), rnd(*shape, dtype=dtype, seed=30)
    check_parity(lambda p, t: tcf.mse_loss(p, t, reduction), lambda p, t: F.mse_loss(p, t, reduction=reduction),
                 [pred, target], dtype)


@requires_kernels("mse", "mse_backward")
def test_mse_gradcheck():
    pred = rnd(5, 8, seed=31, grad=False).t().requires_grad_()
    target = rnd(8, 5, seed=32)
    for reduction in ("mean", "sum", "none"):
        gradcheck(lambda p, t: tcf.mse_loss(p, t, reduction), (pred, target))
        gradcheck(lambda p: tcf.mse_loss(p, target.detach(), reduction), (pred,))


# --- rotate ---------------------------------------------------------------------------------

def native_rotate(images, angle, translate, interpolation="bilinear", fill="zeros", fill_value=0.0):
    """The same warp with affine_grid + grid_sample (align_corners=True: pixel centres at
    -1 and 1, so the rotation centre is ((W-1)/2, (H-1)/2)).

    Convention: the output pixel o (x right, y down, pixels) reads the input at
    c + M (o - c - t), M = [[cos a, -sin a], [sin a, cos a]]: the picture turns
    counter-clockwise on the screen by a degrees and then moves by t = (dx, dy).
    In grid_sample's normalised coordinates (x_n = (x - cx) / sx, sx = (W-1)/2) that is
    theta = [S^-1 M S | -S^-1 M t] with S = diag(sx, sy).
    """
    n, _, h, w = images.shape
    a = torch.as_tensor(angle, dtype=images.dtype).expand(n) * (math.pi / 180)
    t = torch.as_tensor(translate, dtype=images.dtype).expand(n, 2)
    sx, sy = (w - 1) / 2, (h - 1) / 2
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.stack([
        torch.stack([cos, -sin * sy / sx, -(cos * t[:, 0] - sin * t[:, 1]) / sx], -1),
        torch.stack([sin * sx / sy, cos, -(sin * t[:, 0] + cos * t[:, 1]) / sy], -1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=True)
    if fill == "constant":  # sampling (x - v) with zero fill, plus v, is sampling x with fill v
        return F.grid_sample(images - fill_value, grid, mode=interpolation, padding_mode="zeros",
                             align_corners=True) + fill_value
    return F.grid_sample(images, grid, mode=interpolation, align_corners=True,
                         padding_mode={"zeros": "zeros", "nearest": "border"}[fill])


ROT_CASES = [  # N, C, H, W, interpolation, fill
    (2, 3, 7, 9, "bilinear", "zeros"),
    (1, 1, 17, 17, "bilinear", "constant"),
    (3, 2, 6, 5, "bilinear", "nearest"),
    (2, 1, 8, 8, "nearest", "zeros"),
]


@requires_kernels("rotate", "rotate_backward")
@pytest.mark.parametrize("case", ROT_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_rotate_parity(case, dtype, layout):
    n, c, h, w, interp, fill = case
    images = rnd(n, c, h, w, dtype=dtype, seed=33)
    g = torch.Generator().manual_seed(34)
    angle = ((torch.rand(n, generator=g, dtype=dtype) - 0.5) * 120).requires_grad_(interp == "bilinear")
    shift = ((torch.rand(n, 2, generator=g, dtype=dtype) - 0.5) * 6).requires_grad_(interp == "bilinear")
    kw = dict(interpolation=interp, fill=fill, fill_value=0.7)
    if layout == "NCHW":
        ours = lambda i, a, t: tcf.rotate(i, a, t, **kw)  # noqa: E731
    else:
        ours = lambda i, a, t: tcf.rotate(i.permute(0, 2, 3, 1).contiguous(), a, t, layout="NHWC",  # noqa: E731
                                          **kw).permute(0, 3, 1, 2)
    check_parity(ours, lambda i, a, t: native_rotate(i, a, t, **kw), [images, angle, shift], dtype,
                 tol={"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-7, "atol": 1e-8})


@requires_kernels("rotate", "rotate_backward")
def test_rotate_scalar_angle_and_pair_translate():
    images = rnd(2, 2, 6, 7, seed=35)
    check_parity(lambda i: tcf.rotate(i, 25.0, (1.5, -2.0)), lambda i: native_rotate(i, 25.0, (1.5, -2.0)),
                 [images], torch.float64)
    x = rnd(1, 1, 5, 5, seed=36, grad=False)
    torch.testing.assert_close(tcf.rotate(x, 0.0), x)  # the identity warp


@requires_kernels("rotate", "rotate_backward")
@pytest.mark.parametrize("fill", ["zeros", "constant", "nearest", "reflect"])
def test_rotate_gradcheck(fill):
    images = rnd(2, 5, 6, 2, seed=37, grad=False).permute(0, 3, 1, 2).requires_grad_()  # [2,2,5,6], non-contiguous
    angle = torch.tensor([17.0, -33.0], dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([[0.3, -1.2], [2.1, 0.4]], dtype=torch.float64, requires_grad=True)
    gradcheck(lambda i, a, t: tcf.rotate(i, a, t, fill=fill, fill_value=0.3), (images, angle, shift))
    gradcheck(lambda i: tcf.rotate(i, angle.detach(), shift.detach(), fill=fill), (images,))
    scalar = torch.tensor(21.0, dtype=torch.float64, requires_grad=True)
    gradcheck(lambda a: tcf.rotate(images.detach(), a, (0.5, 0.25), fill=fill), (scalar,))


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


_CASES = list(_opcheck_cases())


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
