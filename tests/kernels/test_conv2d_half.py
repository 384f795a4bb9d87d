"""conv2d in bfloat16 on the CPU (cpp/cpu/conv2d_half.cc): the native path (bf16 im2col / patch
rows feeding the AVX512-BF16 GEMM, float32 accumulation, outputs rounded once) where the CPU
has it, the converting adapter (float32 kernels on converted copies) on every other ISA path.

Each result is checked against the float64 NumPy reference on the same bf16 inputs within a
bound that follows from bf16 arithmetic: the output's rounding (an ulp of bf16, relative) plus
float32 accumulation noise, plus half an ulp of every term where a rounded intermediate enters
a sum (grad through tanh is rounded to bf16 before its GEMMs); the terms' magnitudes come from
the same reference on |x|, |w|, |grad|. The native path and the adapter must agree within those
bounds, and both with torch's own bf16 conv2d (oneDNN) on the same inputs.
The bit-exact adapter check (half tensors == the float32 path rounded once) is in
tests/kernels/test_half_ops.py.
"""
import numpy as np
import pytest
from support import requires_torch

import twincore.kernels as K
from twincore import _core
from twincore.kernels.reference import conv2d as R

pytestmark = requires_torch
torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")
ULP = 2.0 ** -7  # bf16: one unit in the last place at 1.0

needs_native = pytest.mark.skipif(not _core.half_gemm_native(),
                                  reason="no AVX512-BF16 (or ISA below avx512): the adapter runs")

# (n, c, h, w, o, kh, kw, stride, padding, dilation): the document CNN's convs (batch cut), the
# 14x14 32->64 conv, and edges of the GEMM blocking and geometry (odd KK, O past 32, rows past 8,
# 1x1, asymmetric stride/padding/dilation, more images than the batch's parts).
SHAPES = [
    (3, 1, 28, 28, 32, 3, 3, 1, "same", 1),
    (2, 32, 28, 28, 64, 3, 3, 2, "same", 1),
    (2, 32, 14, 14, 64, 3, 3, 1, "same", 1),
    (2, 5, 9, 7, 3, 3, 1, (2, 1), (1, 2), (2, 1)),
    (2, 17, 5, 6, 33, 1, 1, 1, 0, 1),
    (9, 7, 11, 13, 40, 5, 5, 1, 2, 1),
    (1, 4, 6, 5, 9, 2, 3, 3, "valid", 1),
]
IDS = [f"{s[0]}x{s[1]}x{s[2]}x{s[3]}-{s[4]}-k{s[5]}{s[6]}-s{s[7]}-p{s[8]}-d{s[9]}".replace(" ", "") for s in SHAPES]
ACT = {None: (lambda v: v, lambda y: np.ones_like(y)), "relu": (lambda v: np.maximum(v, 0), lambda y: y > 0),
       "tanh": (np.tanh, lambda y: 1 - y * y)}


def bf(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale).to(torch.bfloat16)


def f64(t):
    return t.detach().double().numpy()


def data(shape, layout, seed=0):
    n, c, h, w, o, kh, kw = shape[:7]
    nhwc = layout == "NHWC"
    x = bf((n, h, w, c) if nhwc else (n, c, h, w), seed)
    wt = bf((kh, kw, c, o) if nhwc else (o, c, kh, kw), seed + 1, scale=1 / np.sqrt(kh * kw * c))
    b = bf((o,), seed + 2)
    return x, wt, b


def geo(shape, layout):
    return dict(stride=shape[7], padding=shape[8], dilation=shape[9], layout=layout)


def check(got, want, terms, rounded_terms=False, factor=1.0, what=""):
    """|got - want| <= factor * (ulp * |want| + (f32 noise [+ half a bf16 ulp]) * sum |terms|)."""
    w = f64(want) if isinstance(want, torch.Tensor) else np.asarray(want, np.float64)
    g, t = f64(got), np.asarray(terms, np.float64)
    assert g.shape == w.shape, (what, g.shape, w.shape)
    per_term = (2.0 ** -9 if rounded_terms else 0.0) + 2.0 ** -16
    bound = factor * (ULP * np.abs(w) + per_term * t + 1e-30)
    excess = np.abs(g - w) - bound
    assert excess.max() <= 0, f"{what}: max excess {excess.max():.3g} at {np.unravel_index(excess.argmax(), w.shape)}"


def ours(x, w, b, g, kw, act):
    y = K.conv2d(x, w, b, activation=act, **kw)
    grads = K.conv2d_backward(g, x, w, need_bias=True, y=y if act else None, activation=act, **kw)
    return (y,) + tuple(grads)


def reference(x, w, b, g, y, kw, act):
    """Reference y, dx, dw, db and the sums of |terms| behind each (for the bounds); grad goes
    through the activation at our bf16 y (the y the backward is given)."""
    X, W, B, G = f64(x), f64(w), f64(b), f64(g)
    fwd, deriv = ACT[act]
    ry = fwd(R.conv2d(X, W, B, **kw))
    ty = R.conv2d(np.abs(X), np.abs(W), np.abs(B), **kw)
    gp = G * deriv(f64(y))
    rd = R.conv2d_backward(gp, X, W, **kw)
    td = R.conv2d_backward(np.abs(gp), np.abs(X), np.abs(W), **kw)
    return (ry,) + tuple(rd), (ty,) + tuple(td)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bf16_against_float64_reference(isa, shape, layout):
    """Every ISA path: native on avx512 with AVX512-BF16, the adapter on the others."""
    x, w, b = data(shape, layout)
    kw = geo(shape, layout)
    y = K.conv2d(x, w, b, **kw)
    g = bf(tuple(y.shape), 7)
    got = ours(x, w, b, g, kw, None)
    assert all(t.dtype == torch.bfloat16 for t in got)
    want, terms = reference(x, w, b, g, got[0], kw, None)
    for a, r, t, n in zip(got, want, terms, ("y", "dx", "dw", "db")):
        check(a, r, t, what=f"{n} ({isa})")


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bf16_fused_activation(act, layout):
    shape = SHAPES[1]
    x, w, b = data(shape, layout, seed=3)
    kw = geo(shape, layout)
    g = bf(tuple(K.conv2d(x, w, b, **kw).shape), 9)
    got = ours(x, w, b, g, kw, act)
    want, terms = reference(x, w, b, g, got[0], kw, act)
    for a, r, t, n in zip(got, want, terms, ("y", "dx", "dw", "db")):
        # grad * tanh'(y) is rounded to bf16 before the native path's GEMMs (as torch's bf16 does)
        check(a, r, t, rounded_terms=act == "tanh" and n in ("dx", "dw"), what=f"{n} {act}")


def _both_paths(fn):
    _core._set_half_gemm_native(True)
    try:
        native = fn()
        _core._set_half_gemm_native(False)
        adapter = fn()
    finally:
        _core._set_half_gemm_native(True)
    return native, adapter


@needs_native
@pytest.mark.parametrize("act", [None, "relu", "tanh"])
@pytest.mark.parametrize("shape", SHAPES[:4], ids=IDS[:4])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_native_agrees_with_adapter(shape, layout, act):
    x, w, b = data(shape, layout, seed=5)
    kw = geo(shape, layout)
    g = bf(tuple(K.conv2d(x, w, b, **kw).shape), 11)
    native, adapter = _both_paths(lambda: ours(x, w, b, g, kw, act))
    _, terms = reference(x, w, b, g, native[0], kw, act)
    for a, r, t, n in zip(native, adapter, terms, ("y", "dx", "dw", "db")):
        check(a, r, t, rounded_terms=act == "tanh" and n in ("dx", "dw"), factor=2.0, what=f"{n} {act}")


def _torch_conv(x, w, b, g, shape, layout):
    """torch's own bf16 conv2d (+ autograd) on the same inputs; NHWC as channels_last."""
    stride, pad, dil = shape[7], shape[8], shape[9]
    nhwc = layout == "NHWC"
    xt = (x.permute(0, 3, 1, 2) if nhwc else x).detach().requires_grad_()
    wt = (w.permute(3, 2, 0, 1) if nhwc else w).detach().requires_grad_()
    bt = b.detach().requires_grad_()
    if nhwc:
        xt = xt.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    y = F.conv2d(xt, wt, bt, stride, pad, dil)
    gt = g.permute(0, 3, 1, 2) if nhwc else g
    y.backward(gt)
    if nhwc:
        return y.permute(0, 2, 3, 1), xt.grad.permute(0, 2, 3, 1), wt.grad.permute(2, 3, 1, 0), bt.grad
    return y, xt.grad, wt.grad, bt.grad


@pytest.mark.parametrize("shape", [s for s in SHAPES if not isinstance(s[8], str)] + [
    (2, 32, 28, 28, 64, 3, 3, 2, 1, 1), (3, 1, 28, 28, 32, 3, 3, 1, 1, 1), (2, 32, 14, 14, 64, 3, 3, 1, 1, 1)])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bf16_against_torch(shape, layout):
    x, w, b = data(shape, layout, seed=13)
    kw = geo(shape, layout)
    g = bf(tuple(K.conv2d(x, w, b, **kw).shape), 17)
    got = ours(x, w, b, g, kw, None)
    theirs = _torch_conv(x, w, b, g, shape, layout)
    _, terms = reference(x, w, b, g, got[0], kw, None)
    for a, r, t, n in zip(got, theirs, terms, ("y", "dx", "dw", "db")):
        check(a, r, t, factor=2.0, what=f"{n} vs torch")


def test_bf16_bad_input():
    x = torch.ones(1, 2, 5, 5, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match=r"twincore\.conv2d: argument 'w'"):
        K.conv2d(x, torch.ones(3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"twincore\.conv2d: argument 'w'"):
        K.conv2d(x, torch.ones(3, 4, 3, 3, dtype=torch.bfloat16))
    with pytest.raises(TypeError, match=r"twincore\.conv2d_backward: argument 'grad'"):
        K.conv2d_backward(torch.ones(1, 3, 3, 3), x, torch.ones(3, 2, 3, 3, dtype=torch.bfloat16))
