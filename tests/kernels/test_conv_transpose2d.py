"""conv_transpose2d: the definition-based NumPy reference on random geometries in both
layouts, every SIMD path, finite-difference gradients, torch's nn.ConvTranspose2d and
Keras's Conv2DTranspose, the bad-input table."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import conv_transpose2d as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls

from support import requires_tf, requires_torch


def _configs(count, seed):
    """Random valid geometries: kernel 1..5, stride 1..3, dilation 1..2, explicit / same /
    valid padding, output_padding None or below the stride, channels 1..64."""
    r = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        kh, kw = (int(v) for v in r.integers(1, 6, 2))
        s = int(r.integers(1, 4))
        d = int(r.integers(1, 3)) if r.random() < 0.3 else 1
        pad = [0, 1, 2, (1, 0), "same", "valid"][r.integers(6)]
        opad = None if r.random() < 0.5 else int(r.integers(0, max(s, d)))
        h, w = (int(r.choice([1, 2, 3, 5, 7, 14])) for _ in range(2))
        n, cin, cout = int(r.choice([1, 2, 3])), int(r.choice([1, 3, 16, 64])), int(r.choice([1, 3, 32]))
        cfg = dict(n=n, cin=cin, cout=cout, h=h, w=w, kh=kh, kw=kw, stride=s, padding=pad,
                   output_padding=opad, dilation=d)
        p = (pad, pad) if isinstance(pad, (int, str)) else pad
        oh, top = ref.out_size_and_pad(h, kh, s, d, p[0], opad)
        ow, left = ref.out_size_and_pad(w, kw, s, d, p[1], opad)
        if oh < 1 or ow < 1:
            continue
        if isinstance(pad, str) and opad is not None:  # Keras's rule: the "same"/"valid" conv must map back
            keff_h, keff_w = d * (kh - 1) + 1, d * (kw - 1) + 1
            if pad == "same" and (-(-oh // s) != h or -(-ow // s) != w):
                continue
            if pad == "valid" and ((oh - keff_h) // s + 1 != h or (ow - keff_w) // s + 1 != w):
                continue
        if n * cin * cout * h * w * kh * kw > 2e6:
            continue
        out.append(cfg)
    return out


CONFIGS = _configs(30, seed=7)


def _data(cfg, layout, dtype, seed):
    x = randn((cfg["n"], cfg["cin"], cfg["h"], cfg["w"]), dtype, seed)
    w = randn((cfg["cin"], cfg["cout"], cfg["kh"], cfg["kw"]), dtype, seed + 1,
              scale=1 / np.sqrt(cfg["cin"] * cfg["kh"] * cfg["kw"]))
    b = randn((cfg["cout"],), dtype, seed + 2)
    if layout == "NHWC":
        x, w = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    return x, w, b


def _geo(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
                dilation=cfg["dilation"])


def _close(actual, expected, dtype, what):
    expected = np.asarray(expected, np.float64)
    scale = max(float(np.abs(expected).max()), 1.0)
    if np.dtype(dtype) == np.float32:
        assert_close(actual, expected, rtol=1e-4, atol=3e-5 * scale, what=what)
    else:
        assert_close(actual, expected, rtol=1e-10, atol=1e-12 * scale, what=what)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("i", range(len(CONFIGS)))
def test_forward_and_backward_match_the_reference(i, layout, dtype):
    cfg = CONFIGS[i]
    x, w, b = _data(cfg, layout, dtype, seed=i)
    y = K.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg))
    expected = ref.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg))
    assert y.shape == expected.shape and y.dtype == dtype
    _close(y, expected, dtype, f"forward {cfg}")
    # Backward: the adjoint identities <g, T(x)> = <T*(g), x> checked through the reference,
    # with dw and dbias by the reference's linearity in w and b.
    g = randn(y.shape, dtype, seed=i + 50)
    dx, dw, db = K.conv_transpose2d_backward(g, x, w, layout=layout, need_bias=True, **_geo(cfg))
    g64 = g.astype(np.float64)
    for k in range(3):
        v = randn(x.shape, np.float64, seed=100 + k)
        lhs = float((dx.astype(np.float64) * v).sum())
        rhs = float((g64 * ref.conv_transpose2d(v, w, None, layout=layout, **_geo(cfg))).sum())
        _close(lhs, rhs, dtype, "dx projection")
        u = randn(w.shape, np.float64, seed=200 + k)
        lhs = float((dw.astype(np.float64) * u).sum())
        rhs = float((g64 * ref.conv_transpose2d(x, u, None, layout=layout, **_geo(cfg))).sum())
        _close(lhs, rhs, dtype, "dw projection")
    _close(db, g64.sum(axis=(0, 1, 2) if layout == "NHWC" else (0, 2, 3)), dtype, "dbias")


def _pool_and_one_thread(x, w, b, g, cfg):
    """(y, dx, dw, db) with the whole pool, then with 1 thread."""
    runs = []
    before = K.num_threads()
    try:
        for n in (before, 1):
            K.set_num_threads(n)
            runs.append((K.conv_transpose2d(x, w, b, **_geo(cfg)),
                         *K.conv_transpose2d_backward(g, x, w, need_bias=True, **_geo(cfg))))
    finally:
        K.set_num_threads(before)
    return runs


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["f32", "f64"])
def test_nchw_batch_in_several_groups(dtype_):
    # NCHW runs the batch in groups of images whose patch matrix fits ~512 KB (here 2 images of
    # 256 x 256 patch values: 3 groups, the last one short), each group's dw added in order: the
    # reference must hold, and 1 thread must give the same bits as the pool.
    cfg = dict(n=5, cin=8, cout=16, h=16, w=16, kh=4, kw=4, stride=2, padding=1, output_padding=None, dilation=1)
    x, w, b = _data(cfg, "NCHW", dtype_, seed=3)
    g = randn((5, 16, 32, 32), dtype_, seed=4)
    runs = _pool_and_one_thread(x, w, b, g, cfg)
    y, dx, dw, db = runs[0]
    _close(y, ref.conv_transpose2d(x, w, b, **_geo(cfg)), dtype_, "forward")
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    # dw[ci, co, kh, kw] and dx by the adjoint: <g, T(x; u)> = <dw, u>, <g, T(v; w)> = <dx, v>
    u, v = randn(w.shape, np.float64, seed=5), randn(x.shape, np.float64, seed=6)
    _close(float((dw.astype(np.float64) * u).sum()), float((g64 * ref.conv_transpose2d(x64, u, None, **_geo(cfg))).sum()),
           dtype_, "dw projection")
    _close(float((dx.astype(np.float64) * v).sum()), float((g64 * ref.conv_transpose2d(v, w, None, **_geo(cfg))).sum()),
           dtype_, "dx projection")
    _close(db, g64.sum(axis=(0, 2, 3)), dtype_, "dbias")
    for a, c in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["f32", "f64"])
def test_nchw_direct_path_gives_the_nhwc_bits(dtype_, isa):
    # Cout fills 64-byte vectors and the weight fits L2: NCHW runs image by image through conv2d's
    # NHWC direct kernels (the NHWC path's own) on transposed copies. y and dx are the NHWC path's
    # bits; dw sums the batch in 8 fixed parts (1 thread gives the pool's bits); all against the
    # reference. A non-square map and an uneven batch (10 images in 8 parts).
    cfg = dict(n=10, cin=24, cout=16, h=5, w=6, kh=4, kw=4, stride=2, padding=1, output_padding=None, dilation=1)
    x, w, b = _data(cfg, "NCHW", dtype_, seed=11)
    g = randn((10, 16, 10, 12), dtype_, seed=12)
    runs = _pool_and_one_thread(x, w, b, g, cfg)
    for a, c in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, c)
    y, dx, dw, db = runs[0]
    _close(y, ref.conv_transpose2d(x, w, b, **_geo(cfg)), dtype_, "forward")
    u, v = randn(w.shape, np.float64, seed=5), randn(x.shape, np.float64, seed=6)
    g64 = g.astype(np.float64)
    _close(float((dw.astype(np.float64) * u).sum()), float((g64 * ref.conv_transpose2d(x, u, None, **_geo(cfg))).sum()),
           dtype_, "dw projection")
    _close(float((dx.astype(np.float64) * v).sum()), float((g64 * ref.conv_transpose2d(v, w, None, **_geo(cfg))).sum()),
           dtype_, "dx projection")
    nhwc = lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1))  # noqa: E731
    wl = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    yl = K.conv_transpose2d(nhwc(x), wl, b, layout="NHWC", **_geo(cfg))
    dxl, _, _ = K.conv_transpose2d_backward(nhwc(g), nhwc(x), wl, layout="NHWC", need_w=False, **_geo(cfg))
    np.testing.assert_array_equal(y, yl.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(dx, dxl.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_every_simd_path(layout, isa):
    # The DCGAN shapes: 4x4 stride 2, 7 -> 14 -> 28 (both the GEMM and the direct NHWC paths).
    for cin, cout in ((64, 32), (32, 1), (16, 16)):
        cfg = dict(n=3, cin=cin, cout=cout, h=7, w=7, kh=4, kw=4, stride=2, padding=1, output_padding=None,
                   dilation=1)
        if layout == "NHWC":
            cfg["padding"] = "same"
        x, w, b = _data(cfg, layout, np.float32, seed=cin)
        _close(K.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg)),
               ref.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg)), np.float32, "forward")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gradcheck(layout):
    cfg = dict(n=2, cin=3, cout=2, h=3, w=4, kh=3, kw=2, stride=2, padding=1, output_padding=1, dilation=1)
    x, w, b = _data(cfg, layout, np.float64, seed=1)
    y0 = K.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg))
    v = randn(y0.shape, np.float64, seed=3)
    loss = lambda: float((K.conv_transpose2d(x, w, b, layout=layout, **_geo(cfg)) * v).sum())
    dx, dw, db = K.conv_transpose2d_backward(v, x, w, layout=layout, need_bias=True, **_geo(cfg))
    check_grads(loss, [x, w, b], [dx, dw, db], names=["x", "w", "bias"])


@requires_torch
@pytest.mark.parametrize("i", range(0, len(CONFIGS), 3))
def test_torch_parity(i):
    import torch

    cfg = CONFIGS[i]
    if isinstance(cfg["padding"], str):
        pytest.skip("torch's ConvTranspose2d takes explicit padding only")
    x, w, b = _data(cfg, "NCHW", np.float64, seed=i)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv_transpose2d(xt, wt, bt, cfg["stride"], cfg["padding"],
                                             cfg["output_padding"] or 0, 1, cfg["dilation"])
    g = torch.randn_like(y)
    y.backward(g)
    ours = K.conv_transpose2d(xt.detach(), wt.detach(), bt.detach(), **_geo(cfg))
    torch.testing.assert_close(ours, y.detach(), rtol=1e-10, atol=1e-10)
    dx, dw, db = K.conv_transpose2d_backward(g, xt.detach(), wt.detach(), need_bias=True, **_geo(cfg))
    torch.testing.assert_close(dx, xt.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(dw, wt.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(db, bt.grad, rtol=1e-10, atol=1e-10)


@requires_tf
@pytest.mark.parametrize("padding,output_padding,stride,k", [("same", None, 2, 4), ("valid", None, 2, 3),
                                                             ("same", None, 3, 2), ("same", 1, 2, 3),
                                                             ("valid", 1, 2, 3), ("valid", None, 1, 5)])
def test_keras_parity(padding, output_padding, stride, k):
    import keras

    x = randn((2, 5, 6, 3), np.float32, seed=stride + k)
    layer = keras.layers.Conv2DTranspose(4, k, strides=stride, padding=padding, output_padding=output_padding,
                                         bias_initializer="random_normal")
    expected = np.asarray(layer(x))
    kernel, bias = (np.asarray(v) for v in layer.weights)  # [KH, KW, out, in], [out]
    y = K.conv_transpose2d(x, kernel, bias, stride=stride, padding=padding, output_padding=output_padding,
                           layout="NHWC")
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_bad_input():
    x, w = "np.zeros((1, 2, 3, 3))", "np.zeros((2, 4, 3, 3))"
    run_bad_calls([
        (f"K.conv_transpose2d(np.zeros((1, 2, 3)), {w})", "ValueError", "conv_transpose2d", "x"),
        (f"K.conv_transpose2d({x}, np.zeros((3, 4, 3, 3)))", "ValueError", "conv_transpose2d", "w"),
        (f"K.conv_transpose2d({x}, np.zeros((2, 4, 3, 3), np.float32))", "TypeError", "conv_transpose2d", "w"),
        (f"K.conv_transpose2d({x}, {w}, np.zeros(3))", "ValueError", "conv_transpose2d", "bias"),
        (f"K.conv_transpose2d({x}, {w}, stride=0)", "ValueError", "conv_transpose2d", "stride"),
        (f"K.conv_transpose2d({x}, {w}, padding=-1)", "ValueError", "conv_transpose2d", "padding"),
        (f"K.conv_transpose2d({x}, {w}, padding=5)", "ValueError", "conv_transpose2d", "padding"),
        (f"K.conv_transpose2d({x}, {w}, padding='full')", "ValueError", "conv_transpose2d", "padding"),
        (f"K.conv_transpose2d({x}, {w}, stride=2, output_padding=2)", "ValueError", "conv_transpose2d",
         "output_padding"),
        (f"K.conv_transpose2d({x}, {w}, output_padding=-1)", "ValueError", "conv_transpose2d", "output_padding"),
        (f"K.conv_transpose2d({x}, {w}, dilation=0)", "ValueError", "conv_transpose2d", "dilation"),
        (f"K.conv_transpose2d({x}, {w}, layout='NCWH')", "ValueError", "conv_transpose2d", "layout"),
        (f"K.conv_transpose2d(np.zeros((0, 2, 3, 3)), {w})", "ValueError", "conv_transpose2d", "x"),
        (f"K.conv_transpose2d_backward(np.zeros((1, 4, 4, 4)), {x}, {w})", "ValueError",
         "conv_transpose2d_backward", "grad"),
        (f"K.conv_transpose2d_backward(np.zeros((1, 4, 5, 5), np.float32), {x}, {w})", "TypeError",
         "conv_transpose2d_backward", "grad"),
    ])
