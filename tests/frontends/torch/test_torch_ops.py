"""The torch frontend's functions: parity (forward and backward) with torch's native ops
on random configurations, and torch.autograd.gradcheck in float64 (incl. non-contiguous
inputs and inputs that do not require grad). opcheck and the rest: test_torch_custom_ops.py."""

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
