import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import conv2d as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls

from support import framework_reference, requires_tf, requires_torch

PADDINGS = [0, 1, 2, (1, 2), (0, 1), "same", "valid", "SAME"]


def _configs(count: int, seed: int):
    """Random, valid conv configurations: kernel 1..5, stride 1..3, dilation 1..2, every
    padding mode, odd/awkward image sizes, batch 1 or more, channels 1, 3, 32, 64."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        stride = int(rng.integers(1, 4)) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 4, 2))
        dil = int(rng.integers(1, 3)) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 3, 2))
        pad = PADDINGS[rng.integers(len(PADDINGS))]
        h, w = (int(rng.choice([1, 3, 5, 7, 9, 13, 17])) for _ in range(2))
        n = int(rng.choice([1, 2, 3]))
        c, o = (int(rng.choice([1, 3, 32, 64], p=[0.3, 0.3, 0.25, 0.15])) for _ in range(2))
        pt, pb, pl, pr, oh, ow = ref.window(h, w, kh, kw, stride, pad, dil)
        dh, dw = (dil, dil) if isinstance(dil, int) else dil
        if (kh - 1) * dh + 1 > h + pt + pb or (kw - 1) * dw + 1 > w + pl + pr:
            continue
        if n * c * h * w * kh * kw * o * oh * ow // (h * w) > 3e6:  # keep the suite fast
            continue
        out.append(dict(n=n, c=c, h=h, w=w, o=o, kh=kh, kw=kw, stride=stride, padding=pad, dilation=dil))
    return out


CONFIGS = _configs(40, seed=2024)


def _data(cfg, layout, dtype, seed):
    x = randn((cfg["n"], cfg["c"], cfg["h"], cfg["w"]), dtype, seed)
    w = randn((cfg["o"], cfg["c"], cfg["kh"], cfg["kw"]), dtype, seed + 1, scale=1 / np.sqrt(cfg["c"] * cfg["kh"] * cfg["kw"]))
    b = randn((cfg["o"],), dtype, seed + 2)
    if layout == "NHWC":
        x, w = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    return x, w, b


def _args(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])


def _close(actual, expected, dtype, what):
    expected = np.asarray(expected, np.float64)
    scale = max(float(np.abs(expected).max()), 1.0)
    if np.dtype(dtype) == np.float32:
        assert_close(actual, expected, rtol=1e-4, atol=2e-5 * scale, what=what)
    else:
        assert_close(actual, expected, rtol=1e-10, atol=1e-12 * scale, what=what)


def _cid(cfg):
    return "n{n}c{c}h{h}w{w}o{o}k{kh}x{kw}s{stride}p{padding}d{dilation}".format(**cfg).replace(" ", "")


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=[_cid(c) for c in CONFIGS])
def test_parity_with_reference(i):
    cfg = CONFIGS[i]
    layout = ("NCHW", "NHWC")[i % 2]
    dtype = (np.float32, np.float32, np.float64, np.float64)[i % 4]
    x, w, b = _data(cfg, layout, dtype, seed=i)
    y = K.conv2d(x, w, b, layout=layout, **_args(cfg))
    assert y.dtype == dtype
    _close(y, ref.conv2d(x, w, b, layout=layout, **_args(cfg)), dtype, "forward")
    g = randn(y.shape, dtype, seed=100 + i)
    dx, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_bias=True, **_args(cfg))
    rx, rw, rb = ref.conv2d_backward(g, x, w, layout=layout, **_args(cfg))
    assert dx.dtype == dw.dtype == db.dtype == dtype
    _close(dx, rx, dtype, "dx")
    _close(dw, rw, dtype, "dw")
    _close(db, rb, dtype, "dbias")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_every_isa_and_one_by_one(layout, isa):
    # 1x1 stride-1 convolutions skip the patch matrix (x is the GEMM operand itself).
    for cfg in (dict(n=3, c=5, h=7, w=9, o=6, kh=1, kw=1, stride=1, padding=0, dilation=1),
                dict(n=2, c=17, h=13, w=5, o=33, kh=3, kw=3, stride=2, padding="same", dilation=1)):
        x, w, b = _data(cfg, layout, np.float32, seed=7)
        y = K.conv2d(x, w, b, layout=layout, **_args(cfg))
        _close(y, ref.conv2d(x, w, b, layout=layout, **_args(cfg)), np.float32, f"forward ({isa})")
        g = randn(y.shape, np.float32, seed=8)
        got = K.conv2d_backward(g, x, w, layout=layout, need_bias=True, **_args(cfg))
        for a, r, name in zip(got, ref.conv2d_backward(g, x, w, layout=layout, **_args(cfg)), ("dx", "dw", "db")):
            _close(a, r, np.float32, f"{name} ({isa})")


def test_need_flags_and_batch_split():
    # A batch larger than the thread count exercises the per-thread dw/dbias partial sums.
    cfg = dict(n=13, c=3, h=9, w=8, o=4, kh=3, kw=2, stride=(2, 1), padding=1, dilation=(1, 2))
    for layout in ("NCHW", "NHWC"):
        x, w, _ = _data(cfg, layout, np.float64, seed=3)
        g = randn(K.conv2d(x, w, layout=layout, **_args(cfg)).shape, np.float64, seed=4)
        rx, rw, rb = ref.conv2d_backward(g, x, w, layout=layout, **_args(cfg))
        dx, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_x=False, need_w=True, need_bias=True, **_args(cfg))
        assert dx is None
        _close(dw, rw, np.float64, "dw")
        _close(db, rb, np.float64, "db")
        dx, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_x=True, need_w=False, **_args(cfg))
        assert dw is None and db is None
        _close(dx, rx, np.float64, "dx")


GRAD_CASES = [
    dict(n=2, c=2, h=5, w=6, o=3, kh=3, kw=3, stride=2, padding="same", dilation=1),
    dict(n=1, c=3, h=7, w=6, o=2, kh=2, kw=3, stride=1, padding="same", dilation=2),
    dict(n=2, c=2, h=6, w=5, o=2, kh=3, kw=2, stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("k", range(len(GRAD_CASES)))
def test_gradcheck(layout, k):
    cfg = GRAD_CASES[k]
    x, w, b = _data(cfg, layout, np.float64, seed=20 + k)
    r = randn(K.conv2d(x, w, b, layout=layout, **_args(cfg)).shape, np.float64, seed=30 + k)
    loss = lambda: float((K.conv2d(x, w, b, layout=layout, **_args(cfg)) * r).sum())
    dx, dw, db = K.conv2d_backward(r, x, w, layout=layout, need_bias=True, **_args(cfg))
    check_grads(loss, [x, w, b], [dx, dw, db], names=["x", "w", "bias"])


def test_nan_propagates():
    x = randn((1, 2, 5, 5), np.float32, seed=1)
    x[0, 1, 2, 2] = np.nan
    w = randn((3, 2, 3, 3), np.float32, seed=2)
    y = K.conv2d(x, w, padding=1)
    assert np.isnan(y[0, :, 1:4, 1:4]).all()  # every window that covers the NaN
    assert np.isfinite(y[0, :, 0, :]).all() and np.isfinite(y[0, :, :, 4]).all()
    g = np.ones_like(y)
    dx, dw, _ = K.conv2d_backward(g, x, w, padding=1)
    assert np.isnan(dw[:, 1]).all() and np.isfinite(dx).all()


def _torch_pads(cfg, h, w):
    pt, pb, pl, pr, _, _ = ref.window(h, w, cfg["kh"], cfg["kw"], cfg["stride"], cfg["padding"], cfg["dilation"])
    return pt, pb, pl, pr


@requires_torch
@pytest.mark.parametrize("i", range(0, len(CONFIGS), 2), ids=[_cid(c) for c in CONFIGS[::2]])
def test_torch_parity(i):
    import torch
    import torch.nn.functional as F

    cfg = CONFIGS[i]
    x, w, b = _data(cfg, "NCHW", np.float32, seed=i)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    pt, pb, pl, pr = _torch_pads(cfg, cfg["h"], cfg["w"])
    if pt == pb and pl == pr:
        ty = F.conv2d(tx, tw, tb, cfg["stride"], (pt, pl), cfg["dilation"])
    else:  # asymmetric ("same" with an odd total): pad first, as torch users do
        ty = F.conv2d(F.pad(tx, (pl, pr, pt, pb)), tw, tb, cfg["stride"], 0, cfg["dilation"])
    g = torch.randn(ty.shape, generator=torch.Generator().manual_seed(i))
    ty.backward(g)
    with torch.no_grad():
        y = K.conv2d(tx, tw, tb, **_args(cfg))
        assert isinstance(y, torch.Tensor)
        dx, dw, db = K.conv2d_backward(g, tx, tw, need_bias=True, **_args(cfg))
    _close(y.numpy(), ty.detach().numpy(), np.float32, "forward vs torch")
    _close(dx.numpy(), tx.grad.numpy(), np.float32, "dx vs torch")
    _close(dw.numpy(), tw.grad.numpy(), np.float32, "dw vs torch")
    _close(db.numpy(), tb.grad.numpy(), np.float32, "dbias vs torch")


@requires_tf
@pytest.mark.parametrize("i", range(1, len(CONFIGS), 2), ids=[_cid(c) for c in CONFIGS[1::2]])
def test_tf_parity(i):
    import tensorflow as tf

    cfg = CONFIGS[i]
    x, w, b = _data(cfg, "NHWC", np.float32, seed=i)
    tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)
    pad = cfg["padding"]
    pt, pb, pl, pr = _torch_pads(cfg, cfg["h"], cfg["w"])
    dil = cfg["dilation"]
    # TF's CPU backprop rejects dilation > 1 with explicit padding: pad first, then VALID.
    pre = not isinstance(pad, str) and dil not in (1, (1, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([tx, tw, tb])
        xin = tf.pad(tx, [[0, 0], [pt, pb], [pl, pr], [0, 0]]) if pre else tx
        tf_pad = "VALID" if pre else (pad.upper() if isinstance(pad, str) else [[0, 0], [pt, pb], [pl, pr], [0, 0]])
        ty = tf.nn.conv2d(xin, tw, cfg["stride"], tf_pad, dilations=dil) + tb
    g = tf.random.stateless_normal(ty.shape, seed=(i, 1))
    # Without oneDNN (TF's default on CPUs without AVX-512) TF has no dilated
    # Conv2DBackpropInput/Filter: those gradients are then checked against the NumPy reference.
    refs = ref.conv2d_backward(g.numpy(), x, w, layout="NHWC", **_args(cfg))
    rx, rw, rb = (framework_reference(lambda v=v: tape.gradient(ty, v, output_gradients=g).numpy(),
                                      lambda r=r: r, f"tf {name}")
                  for v, r, name in zip((tx, tw, tb), refs, ("dx", "dw", "dbias")))
    y = K.conv2d(tx, tw, tb, layout="NHWC", **_args(cfg))
    assert isinstance(y, tf.Tensor)
    dx, dw, db = K.conv2d_backward(g, tx, tw, layout="NHWC", need_bias=True, **_args(cfg))
    assert isinstance(dx, tf.Tensor)
    _close(y.numpy(), ty.numpy(), np.float32, "forward vs tf")
    _close(dx.numpy(), rx, np.float32, "dx vs tf")
    _close(dw.numpy(), rw, np.float32, "dw vs tf")
    _close(db.numpy(), rb, np.float32, "dbias vs tf")


def test_bad_input():
    setup = ("x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32); "
             "xh = np.ones((2, 8, 8, 3), np.float32); wh = np.ones((3, 3, 3, 4), np.float32); "
             "g = np.ones((2, 4, 6, 6), np.float32)")
    run_bad_calls([
        ("K.conv2d(x, np.ones((4, 3, 9, 3), np.float32))", "ValueError", "conv2d", "w"),
        ("K.conv2d(x, np.ones((4, 3, 5, 5), np.float32), dilation=2, padding=0)", "ValueError", "conv2d", "w"),
        ("K.conv2d(x, w, stride=0)", "ValueError", "conv2d", "stride"),
        ("K.conv2d(x, w, stride=(1, -2))", "ValueError", "conv2d", "stride"),
        ("K.conv2d(x, w, dilation=-1)", "ValueError", "conv2d", "dilation"),
        ("K.conv2d(x, w, padding=-1)", "ValueError", "conv2d", "padding"),
        ("K.conv2d(x, np.ones((4, 2, 3, 3), np.float32))", "ValueError", "conv2d", "w"),
        ("K.conv2d(xh, wh[:, :, :2], layout='NHWC')", "ValueError", "conv2d", "w"),
        ("K.conv2d(x, w, layout='CHWN')", "ValueError", "conv2d", "layout"),
        ("K.conv2d(x, w, layout=None)", "TypeError", "conv2d", "layout"),
        ("K.conv2d(x, w, padding='full')", "ValueError", "conv2d", "padding"),
        ("K.conv2d(x, w, padding=1.5)", "TypeError", "conv2d", "padding"),
        ("K.conv2d(x, w, stride='2')", "TypeError", "conv2d", "stride"),
        ("K.conv2d(x[0], w)", "ValueError", "conv2d", "x"),
        ("K.conv2d(x, w[0])", "ValueError", "conv2d", "w"),
        ("K.conv2d(x, w.astype(np.float64))", "TypeError", "conv2d", "w"),
        ("K.conv2d(x.astype(np.int32), w)", "TypeError", "conv2d", "x"),
        ("K.conv2d(x, w, np.ones(3, np.float32))", "ValueError", "conv2d", "bias"),
        ("K.conv2d(x, w, np.ones((4, 1), np.float32))", "ValueError", "conv2d", "bias"),
        ("K.conv2d(x, w, np.ones(4, np.float64))", "TypeError", "conv2d", "bias"),
        ("K.conv2d(np.ones((0, 3, 8, 8), np.float32), w)", "ValueError", "conv2d", "x"),
        ("K.conv2d(x, np.ones((0, 3, 3, 3), np.float32))", "ValueError", "conv2d", "w"),
        ("K.conv2d(None, w)", "TypeError", "conv2d", "x"),
        ("K.conv2d(xh, wh, layout='NHWC', padding='same', dilation=0)", "ValueError", "conv2d", "dilation"),
        ("K.conv2d_backward(g, x, w, padding=1)", "ValueError", "conv2d_backward", "grad"),
        ("K.conv2d_backward(g.astype(np.float64), x, w)", "TypeError", "conv2d_backward", "grad"),
        ("K.conv2d_backward(g, x, w, layout='nchw ')", "ValueError", "conv2d_backward", "layout"),
        ("K.conv2d_backward(g, x, w[:, :2])", "ValueError", "conv2d_backward", "w"),
        ("K.conv2d_backward(g, x, w, stride=0)", "ValueError", "conv2d_backward", "stride"),
        ("K.conv2d_backward(g[:0], x[:0], w)", "ValueError", "conv2d_backward", "x"),
    ], setup=setup)


def test_nhwc_image_groups():
    # NHWC stacks ~1 MB of patch rows per GEMM: here 2 images a group, several groups per thread.
    cfg = dict(n=9, c=16, h=17, w=17, o=8, kh=5, kw=5, stride=1, padding="same", dilation=1)
    x, w, b = _data(cfg, "NHWC", np.float32, seed=11)
    y = K.conv2d(x, w, b, layout="NHWC", **_args(cfg))
    _close(y, ref.conv2d(x, w, b, layout="NHWC", **_args(cfg)), np.float32, "forward")
    g = randn(y.shape, np.float32, seed=12)
    got = K.conv2d_backward(g, x, w, layout="NHWC", need_bias=True, **_args(cfg))
    for a, r, name in zip(got, ref.conv2d_backward(g, x, w, layout="NHWC", **_args(cfg)), ("dx", "dw", "db")):
        _close(a, r, np.float32, name)


# Inner dimension KH*KW*C below 16 (e.g. the CNNs' first layer, 3x3 over 1 channel) runs
# direct loops instead of the GEMM: forward, and dw with dbias from the same pass.
SMALL_K = [
    dict(n=3, c=1, h=11, w=13, o=32, kh=3, kw=3, stride=1, padding="same", dilation=1),
    dict(n=5, c=1, h=28, w=28, o=33, kh=3, kw=3, stride=2, padding="same", dilation=1),
    dict(n=2, c=3, h=9, w=7, o=17, kh=2, kw=2, stride=1, padding=(1, 2), dilation=2),
    dict(n=1, c=1, h=6, w=17, o=5, kh=5, kw=3, stride=(2, 1), padding=0, dilation=(1, 2)),
    dict(n=4, c=15, h=5, w=3, o=127, kh=1, kw=1, stride=1, padding=0, dilation=1),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_k_direct_paths(layout, dtype, isa):
    for k, cfg in enumerate(SMALL_K):
        x, w, b = _data(cfg, layout, dtype, seed=40 + k)
        y = K.conv2d(x, w, b, layout=layout, **_args(cfg))
        _close(y, ref.conv2d(x, w, b, layout=layout, **_args(cfg)), dtype, f"forward {cfg} ({isa})")
        _close(K.conv2d(x, w, layout=layout, **_args(cfg)), ref.conv2d(x, w, None, layout=layout, **_args(cfg)),
               dtype, "forward without bias")
        g = randn(y.shape, dtype, seed=50 + k)
        rx, rw, rb = ref.conv2d_backward(g, x, w, layout=layout, **_args(cfg))
        dx, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_bias=True, **_args(cfg))
        for a, r, name in ((dx, rx, "dx"), (dw, rw, "dw"), (db, rb, "db")):
            _close(a, r, dtype, f"{name} {cfg} ({isa})")
        dx, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_x=False, **_args(cfg))
        assert dx is None and db is None
        _close(dw, rw, dtype, "dw alone")
        _, _, db = K.conv2d_backward(g, x, w, layout=layout, need_x=False, need_w=False, need_bias=True, **_args(cfg))
        _close(db, rb, dtype, "dbias alone")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_small_k_nan_propagates(layout):
    cfg = dict(n=2, c=1, h=6, w=6, o=20, kh=3, kw=3, stride=1, padding=1, dilation=1)
    x, w, b = _data(cfg, layout, np.float32, seed=5)
    x[1].reshape(-1)[14] = np.nan  # image 1, pixel (2, 2)
    y = K.conv2d(x, w, b, layout=layout, **_args(cfg))
    yc = y if layout == "NCHW" else y.transpose(0, 3, 1, 2)
    assert np.isnan(yc[1, :, 1:4, 1:4]).all() and np.isfinite(yc[0]).all() and np.isfinite(yc[1, :, 0]).all()
    g = randn(y.shape, np.float32, seed=6)
    _, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_x=False, need_bias=True, **_args(cfg))
    assert np.isnan(dw).all() and np.isfinite(db).all()


def test_nhwc_dilated_gather(isa):
    # NHWC patch rows copy kw*C contiguous values per kernel row; with dilation in w they
    # are copied (and scattered back) C at a time, clipped at the image's edges.
    for cfg in (dict(n=2, c=8, h=9, w=10, o=8, kh=3, kw=3, stride=1, padding=2, dilation=(1, 2)),
                dict(n=3, c=4, h=7, w=5, o=3, kh=2, kw=5, stride=(1, 2), padding="same", dilation=(2, 1))):
        x, w, b = _data(cfg, "NHWC", np.float32, seed=9)
        y = K.conv2d(x, w, b, layout="NHWC", **_args(cfg))
        _close(y, ref.conv2d(x, w, b, layout="NHWC", **_args(cfg)), np.float32, f"forward ({isa})")
        g = randn(y.shape, np.float32, seed=10)
        got = K.conv2d_backward(g, x, w, layout="NHWC", need_bias=True, **_args(cfg))
        for a, r, name in zip(got, ref.conv2d_backward(g, x, w, layout="NHWC", **_args(cfg)), ("dx", "dw", "db")):
            _close(a, r, np.float32, f"{name} ({isa})")


def test_nhwc_direct_and_gemm_paths(isa):
    # NHWC forward and dw read patches straight from the padded image (register tiles of
    # pixels x channel vectors, with row, kernel-row and channel tails) while the weight fits
    # L2 and O >= 16 (dx too when C fills 64-byte vectors: 16 floats, 8 doubles); a larger
    # weight or fewer channels take the patch-matrix GEMM.
    for cfg, dtype in ((dict(n=2, c=7, h=9, w=11, o=100, kh=3, kw=3, stride=2, padding="same", dilation=1), np.float32),
                       (dict(n=3, c=5, h=6, w=7, o=19, kh=2, kw=3, stride=1, padding=(1, 2), dilation=(2, 1)), np.float64),
                       (dict(n=3, c=16, h=7, w=9, o=24, kh=3, kw=2, stride=2, padding="same", dilation=(1, 2)), np.float32),
                       (dict(n=2, c=8, h=5, w=6, o=17, kh=3, kw=3, stride=(1, 2), padding=2, dilation=1), np.float64),
                       (dict(n=1, c=64, h=5, w=4, o=130, kh=3, kw=3, stride=1, padding=1, dilation=1), np.float32),
                       (dict(n=2, c=6, h=5, w=5, o=7, kh=3, kw=3, stride=1, padding="same", dilation=1), np.float32)):
        x, w, b = _data(cfg, "NHWC", dtype, seed=13)
        y = K.conv2d(x, w, b, layout="NHWC", **_args(cfg))
        _close(y, ref.conv2d(x, w, b, layout="NHWC", **_args(cfg)), dtype, f"forward {cfg} ({isa})")
        g = randn(y.shape, dtype, seed=14)
        got = K.conv2d_backward(g, x, w, layout="NHWC", need_bias=True, **_args(cfg))
        for a, r, name in zip(got, ref.conv2d_backward(g, x, w, layout="NHWC", **_args(cfg)), ("dx", "dw", "db")):
            _close(a, r, dtype, f"{name} {cfg} ({isa})")


FUSED_CASES = [  # one per kernel path: small-K direct, NHWC direct, patch-matrix GEMM, 1x1
    dict(n=3, c=1, h=9, w=8, o=5, kh=3, kw=3, stride=1, padding="same", dilation=1),
    dict(n=2, c=16, h=7, w=9, o=24, kh=3, kw=2, stride=2, padding="same", dilation=(1, 2)),
    dict(n=1, c=64, h=5, w=4, o=130, kh=3, kw=3, stride=1, padding=1, dilation=1),
    dict(n=5, c=6, h=4, w=5, o=7, kh=1, kw=1, stride=1, padding=0, dilation=1),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_fused_activation(layout, dtype, activation, isa):
    # activation(conv + bias) in the kernel's epilogue, and the backward taking grad through
    # activation'(y) block by block, against the reference conv and NumPy's activation.
    f = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh}[activation]
    df = {"relu": lambda y: (y > 0).astype(y.dtype), "tanh": lambda y: 1 - y * y}[activation]
    for k, cfg in enumerate(FUSED_CASES):
        x, w, b = _data(cfg, layout, dtype, seed=30 + k)
        y = K.conv2d(x, w, b, layout=layout, activation=activation, **_args(cfg))
        y_ref = f(np.asarray(ref.conv2d(x, w, b, layout=layout, **_args(cfg)), np.float64))
        _close(y, y_ref, dtype, f"forward {activation} {cfg} ({isa})")
        assert (y < 0).any() if activation == "tanh" else (y == 0).any() and (y > 0).any()
        g = randn(y.shape, dtype, seed=40 + k)
        want = ref.conv2d_backward(g * df(y), x, w, layout=layout, **_args(cfg))
        got = K.conv2d_backward(g, x, w, layout=layout, need_bias=True, y=y, activation=activation, **_args(cfg))
        for a, r, name in zip(got, want, ("dx", "dw", "db")):
            _close(a, r, dtype, f"{name} through {activation} {cfg} ({isa})")
        # the split the Keras layers use: parameters' gradients and the input's in two calls
        _, dw, db = K.conv2d_backward(g, x, w, layout=layout, need_x=False, need_bias=True, y=y,
                                      activation=activation, **_args(cfg))
        dx = K.conv2d_backward(g, x, w, layout=layout, need_w=False, y=y, activation=activation, **_args(cfg))[0]
        for a, r, name in zip((dx, dw, db), got, ("dx", "dw", "db")):
            np.testing.assert_array_equal(a, r, err_msg=f"{name}: split call differs from the joint one")


def test_fused_activation_bad_input():
    setup = ("x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32); "
             "g = np.ones((2, 4, 6, 6), np.float32)")
    run_bad_calls([
        ("K.conv2d(x, w, activation='gelu')", "ValueError", "conv2d", "activation"),
        ("K.conv2d(x, w, activation=1)", "TypeError", "conv2d", "activation"),
        ("K.conv2d_backward(g, x, w, activation='relu')", "ValueError", "conv2d_backward", "y"),
        ("K.conv2d_backward(g, x, w, y=g[:1], activation='relu')", "ValueError", "conv2d_backward", "y"),
        ("K.conv2d_backward(g, x, w, y=g.astype(np.float64), activation='relu')", "TypeError", "conv2d_backward", "y"),
        ("K.conv2d_backward(g, x, w, y=g, activation='sigmoid')", "ValueError", "conv2d_backward", "activation"),
    ], setup=setup)


NCHW_VIA_NHWC_CASES = [  # C a multiple of 64 bytes, O >= 16, KK >= 16: NCHW runs the NHWC direct kernels
    (dict(n=5, c=32, h=11, w=10, o=20, kh=3, kw=3, stride=2, padding="same", dilation=1), np.float32),
    (dict(n=3, c=16, h=9, w=7, o=33, kh=2, kw=3, stride=1, padding=(1, 2), dilation=(2, 1)), np.float32),
    (dict(n=4, c=8, h=6, w=9, o=16, kh=3, kw=3, stride=(1, 2), padding=1, dilation=1), np.float64),
]


@pytest.mark.parametrize("k", range(len(NCHW_VIA_NHWC_CASES)))
@pytest.mark.parametrize("activation", [None, "relu"])
def test_nchw_on_the_nhwc_direct_kernels(k, activation, isa):
    # Such NCHW convs transpose each image to NHWC and back around the NHWC direct kernels,
    # with the NHWC path's groups and order of sums: the same bits as an NHWC call, and the
    # reference's values (8x8 transpose blocks with row and column tails: 11x10, 9x7, 6x9).
    cfg, dtype = NCHW_VIA_NHWC_CASES[k]
    x, w, b = _data(cfg, "NCHW", dtype, seed=21)
    xh, wh = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    y = K.conv2d(x, w, b, activation=activation, **_args(cfg))
    yh = K.conv2d(xh, wh, b, layout="NHWC", activation=activation, **_args(cfg))
    np.testing.assert_array_equal(y, yh.transpose(0, 3, 1, 2), err_msg=f"forward ({isa})")
    yr = np.asarray(ref.conv2d(x, w, b, **_args(cfg)))
    _close(y, np.maximum(yr, 0) if activation else yr, dtype, f"forward {cfg} ({isa})")
    g = randn(y.shape, dtype, seed=22)
    got = K.conv2d_backward(g, x, w, need_bias=True, y=y if activation else None, activation=activation,
                            **_args(cfg))
    goth = K.conv2d_backward(np.ascontiguousarray(g.transpose(0, 2, 3, 1)), xh, wh, layout="NHWC", need_bias=True,
                             y=yh if activation else None, activation=activation, **_args(cfg))
    np.testing.assert_array_equal(got[0], goth[0].transpose(0, 3, 1, 2), err_msg=f"dx ({isa})")
    np.testing.assert_array_equal(got[1], goth[1].transpose(3, 2, 0, 1), err_msg=f"dw ({isa})")
    np.testing.assert_array_equal(got[2], goth[2], err_msg=f"db ({isa})")
    gr = g * (y > 0) if activation else g
    for a, r, name in zip(got, ref.conv2d_backward(gr, x, w, **_args(cfg)), ("dx", "dw", "db")):
        _close(a, r, dtype, f"{name} {cfg} ({isa})")


SMALL_K_REGS_CASES = [  # 3x3 taps with C = 1 (the CNN's conv1): NHWC keeps the weights in registers
    (dict(n=3, c=1, h=28, w=28, o=32, kh=3, kw=3, stride=1, padding="same", dilation=1), np.float32),
    (dict(n=2, c=1, h=9, w=13, o=48, kh=3, kw=3, stride=2, padding="valid", dilation=1), np.float32),
    (dict(n=2, c=1, h=10, w=7, o=64, kh=3, kw=3, stride=1, padding=(2, 1), dilation=(2, 1)), np.float32),
    (dict(n=2, c=1, h=8, w=9, o=24, kh=3, kw=3, stride=1, padding="same", dilation=1), np.float64),
    (dict(n=2, c=1, h=8, w=9, o=20, kh=3, kw=3, stride=1, padding="same", dilation=1), np.float32),
]


@pytest.mark.parametrize("k", range(len(SMALL_K_REGS_CASES)))
@pytest.mark.parametrize("bias", [True, False])
def test_small_k_forward_same_bits_in_both_layouts(k, bias, isa):
    # The NHWC small-K forward (weights held in registers when O fills whole vector blocks, the
    # per-pixel loop otherwise) and the NCHW one sum bias, then the taps in order: the same bits.
    cfg, dtype = SMALL_K_REGS_CASES[k]
    x, w, b = _data(cfg, "NCHW", dtype, seed=60 + k)
    b = b if bias else None
    if k == 0:  # a NaN passes the fused relu as it passes act_inplace's (NaN < 0 is false)
        x[1, 0, 5, 6] = np.nan
    xh, wh = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    for act in (None, "relu", "tanh"):  # relu fused into the NHWC kernel, tanh after it
        y = K.conv2d(x, w, b, activation=act, **_args(cfg))
        yh = K.conv2d(xh, wh, b, layout="NHWC", activation=act, **_args(cfg))
        np.testing.assert_array_equal(y, yh.transpose(0, 3, 1, 2), err_msg=f"forward {cfg} {act} ({isa})")
        if k == 0:
            assert np.isnan(y[1, :, 4:7, 5:8]).all() and np.isnan(y).sum() == 9 * cfg["o"]
        yr = np.asarray(ref.conv2d(x, w, b, **_args(cfg)))
        yr = {None: yr, "relu": np.where(np.isnan(yr), yr, np.maximum(yr, 0)), "tanh": np.tanh(yr)}[act]
        fin = ~np.isnan(yr)
        _close(yh.transpose(0, 3, 1, 2)[fin], yr[fin], dtype, f"forward {cfg} ({isa})")
