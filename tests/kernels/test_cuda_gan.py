"""The GAN ops on CUDA without a GPU. The kernels (kernels/cuda/leaky_relu.cu,
binary_cross_entropy_with_logits.cu, batch_norm.cu, conv_transpose2d.cu) launched directly in the
CPU emulation of tests/kernels/cuda_emu against the CPU kernels, and the sources' NVRTC rules;
then the GPU plans of conv_transpose2d (cpp/gpu/conv_transpose2d.cc: conv2d's plans with the roles
swapped) and batch_norm (cpp/gpu/batch_norm.cc) through the public ops on fake CUDA arrays: a
recorder checks every launch against the kernels' signatures, the emulator runs them against the
CPU kernels (our conv kernels and the conv-as-GEMM path on the reference GEMM), and one torch GAN
training step's binding calls are replayed on fake CUDA arrays (recorder; emulator, slow)."""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels import _dispatch
from twincore.testing import assert_close, randn
from support import load_test_cuda

FILES = ("leaky_relu.cu", "binary_cross_entropy_with_logits.cu", "conv_transpose2d.cu", "batch_norm.cu")
SFX = {np.float32: "f32", np.float64: "f64"}


@pytest.mark.parametrize("name", FILES)
def test_sources_follow_the_abi(name):
    src = (_dispatch.CUDA_DIR / name).read_text()
    assert set(re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', src)) == {"common.cuh"}
    assert "TC_FOR_FLOATS" in src and "TC_REGISTER" in src
    # every kernel parameter is 8 bytes: pointers, i64 or double (no int / float / bool)
    for params in re.findall(r'extern "C" __global__ void \w+\(([^)]*)\)', src.replace("\\\n", " ")):
        for p in params.split(","):
            p = p.strip()
            assert "*" in p or p.startswith(("i64 ", "double ")), f"{name}: parameter {p!r}"


@pytest.fixture(scope="module")
def emu():
    sys.path.insert(0, str(Path(__file__).parent / "cuda_emu"))
    try:
        import emu_build
    finally:
        sys.path.pop(0)
    try:
        return emu_build.EmuLauncher(emu_build.build())
    except RuntimeError as e:
        pytest.skip(f"CPU emulation not built: {e}")


def _p(a):
    return ("p", 0 if a is None else a.ctypes.data)


def launch(emu, kernel, args, grid=7, block=128):
    kinds = "".join(k for k, _ in args)  # the executor's call: 8-byte slots and their kinds
    slots = struct.pack("<" + "".join({"p": "Q", "i": "q", "d": "d"}[k] for k in kinds), *[v for _, v in args])
    emu.launch("", kernel, (grid, 1, 1), (block, 1, 1), 0, slots, 0, 0, kinds)


@pytest.mark.slow
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_leaky_relu_kernels(emu, dt):
    x = randn((3001,), dt, seed=1, scale=3.0)
    g = randn((3001,), dt, seed=2)
    y, dx = np.empty_like(x), np.empty_like(x)
    launch(emu, f"leaky_relu_{SFX[dt]}", [_p(x), _p(y), ("i", x.size), ("d", 0.2)])
    launch(emu, f"leaky_relu_backward_{SFX[dt]}", [_p(g), _p(x), _p(dx), ("i", x.size), ("d", 0.2)])
    np.testing.assert_array_equal(y, K.leaky_relu(x, 0.2))
    np.testing.assert_array_equal(dx, K.leaky_relu_backward(g, x, 0.2))


@pytest.mark.slow
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_kernels(emu, dt, reduction):
    x = randn((37, 5), dt, seed=3, scale=5.0)
    x[0, :3] = [1e4, -1e4, 0.0]
    t = np.random.default_rng(4).uniform(0, 1, x.shape).astype(dt)
    pw = np.array([0.5, 1.0, 2.0, 3.0, 0.1], dt)
    want_loss, want_dl = K.binary_cross_entropy_with_logits(x, t, pw, 0.1, reduction)
    scale = 1.0 / x.size if reduction == "mean" else 1.0
    dl = np.empty_like(x)
    rows = np.empty_like(x) if reduction == "none" else None
    grid = 7
    part = np.zeros(grid) if rows is None else None
    launch(emu, f"binary_cross_entropy_with_logits_{SFX[dt]}",
           [_p(x), _p(t), _p(pw), ("i", 5), ("i", x.size), ("d", 0.1), ("d", scale), _p(rows), _p(part), _p(dl)],
           grid=grid)
    tol = dict(rtol=1e-5, atol=1e-6) if dt == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_close(dl, want_dl, **tol, what="dlogits")
    if rows is not None:
        assert_close(rows, want_loss, **tol, what="loss")
        return
    out = np.empty((), dt)
    launch(emu, f"binary_cross_entropy_with_logits_finish_{SFX[dt]}", [_p(part), ("i", grid), ("d", scale), _p(out)],
           grid=1, block=256)
    assert_close(out, want_loss, **tol, what="reduced loss")


@pytest.mark.slow
@pytest.mark.parametrize("nhwc", [0, 1])
def test_conv_transpose2d_bias_kernel(emu, nhwc):
    y = randn((3, 4, 5, 6), np.float32, seed=5)
    b = randn((6 if nhwc else 4,), np.float32, seed=6)
    want = y + (b if nhwc else b[:, None, None])
    C, P = (6, 20) if nhwc else (4, 30)
    launch(emu, "conv_transpose2d_bias_f32", [_p(y), _p(b), ("i", 3), ("i", C), ("i", P), ("i", nhwc)])
    np.testing.assert_array_equal(y, want)


@pytest.mark.slow
@pytest.mark.parametrize("shape,layout", [((5, 3, 4, 6), "NCHW"), ((5, 4, 6, 3), "NHWC"), ((33, 7), "NHWC")])
def test_batch_norm_kernels(emu, shape, layout):
    dt = np.float64
    x = randn(shape, dt, seed=7, scale=2.0) + 3.0
    g = randn(shape, dt, seed=8)
    nchw = len(shape) == 4 and layout == "NCHW"
    C = shape[1] if nchw or len(shape) == 2 else shape[3]
    outer, inner = (shape[0], shape[2] * shape[3]) if nchw else (x.size // C, 1)
    gamma, beta = randn((C,), dt, seed=9), randn((C,), dt, seed=10)
    want_y, want_m, want_v = K.batch_norm(x, gamma, beta, 1e-3, layout)
    mean, var, y = np.empty(C), np.empty(C), np.empty_like(x)
    launch(emu, "batch_norm_stats_f64", [_p(x), ("i", outer), ("i", C), ("i", inner), _p(mean), _p(var)], grid=2)
    launch(emu, "batch_norm_apply_f64", [_p(x), _p(gamma), _p(beta), _p(mean), _p(var), ("i", outer), ("i", C),
                                         ("i", inner), ("d", 1e-3), _p(y)])
    tol = dict(rtol=1e-12, atol=1e-12)
    for a, b, name in ((mean, want_m, "mean"), (var, want_v, "var"), (y, want_y, "y")):
        assert_close(a, b, **tol, what=name)
    sums, dx, dgam, dbet = np.empty(2 * C), np.empty_like(x), np.empty(C), np.empty(C)
    launch(emu, "batch_norm_backward_reduce_f64", [_p(g), _p(x), _p(mean), _p(var), ("i", outer), ("i", C),
                                                   ("i", inner), ("d", 1e-3), _p(sums)], grid=2)
    launch(emu, "batch_norm_backward_apply_f64", [_p(g), _p(x), _p(gamma), _p(mean), _p(var), _p(sums),
                                                  ("i", outer), ("i", C), ("i", inner), ("d", 1e-3), _p(dx),
                                                  _p(dgam), _p(dbet)])
    for a, b, name in zip((dx, dgam, dbet), K.batch_norm_backward(g, x, gamma, mean, var, 1e-3, layout),
                          ("dx", "dgamma", "dbeta")):
        assert_close(a, b, rtol=1e-10, atol=1e-12, what=name)
    rm, rv, nm, nv = randn((C,), dt, seed=11), np.abs(randn((C,), dt, seed=12)), np.empty(C), np.empty(C)
    count = outer * inner
    launch(emu, "batch_norm_update_stats_f64", [_p(rm), _p(rv), _p(mean), _p(var), ("i", C), ("d", 0.1),
                                                ("d", count / (count - 1)), _p(nm), _p(nv)])
    for a, b in zip((nm, nv), K.batch_norm_update_stats(rm, rv, mean, var, 0.1, count, True)):
        assert_close(a, b, rtol=1e-14, atol=1e-15, what="running stats")


# ---- the GPU plans (cpp/gpu/conv_transpose2d.cc, batch_norm.cc) through the public ops ----------
# On fake CUDA arrays (test_cuda.py's FakeCuda): a recording launcher checks every launch against the
# kernels' signatures; the emulator runs the real kernels through the plans against the CPU kernels.


_tc = load_test_cuda()
signatures, recorder, emu_lib, reference_gemm = _tc.signatures, _tc.recorder, _tc.emu_lib, _tc.reference_gemm
FakeCuda, _fake, _from_fake, _rounded = _tc.FakeCuda, _tc._fake, _tc._from_fake, _tc._rounded
DTYPES, SFX4 = _tc.DTYPES, _tc.SFX


@pytest.fixture
def emu_plans(emu_lib, monkeypatch):  # noqa: F811
    """Fake CUDA arrays launch through the C++ plans into the emulated kernels."""
    mod, path = emu_lib
    lf = mod.EmuLauncher(path)
    _tc._use_launcher(monkeypatch, lf)
    return lf


def _convt_case(layout, n, cin, cout, h, w, k, stride, padding, output_padding, dilation, rng, dt="float64"):
    r = lambda *s: _rounded(rng.standard_normal(s), dt)  # noqa: E731  (values the dtype holds exactly)
    kh, kw = k
    x = r(n, cin, h, w) if layout == "NCHW" else r(n, h, w, cin)
    wt = r(cin, cout, kh, kw) if layout == "NCHW" else r(kh, kw, cout, cin)
    return x, wt, r(cout)


def _gan_calls(dt):
    """One call of each GAN op form (both layouts) on fake CUDA arrays of dtype dt."""
    f = lambda *s: FakeCuda(s, dt)  # noqa: E731
    return [
        ("convT nchw", lambda: K.conv_transpose2d(f(2, 3, 5, 4), f(3, 2, 4, 4), f(2), 2, "same")),
        ("convT nhwc", lambda: K.conv_transpose2d(f(2, 5, 4, 3), f(4, 4, 2, 3), f(2), 2, "same", layout="NHWC")),
        ("convT padding output_padding dilation", lambda: K.conv_transpose2d(f(1, 3, 5, 6), f(3, 4, 3, 2), None,
                                                                           (2, 3), (1, 0), (1, 2), (1, 2))),
        ("convT backward nchw", lambda: K.conv_transpose2d_backward(f(2, 2, 10, 8), f(2, 3, 5, 4), f(3, 2, 4, 4), 2,
                                                                    "same", need_bias=True)),
        ("convT backward nhwc", lambda: K.conv_transpose2d_backward(f(2, 10, 8, 2), f(2, 5, 4, 3), f(4, 4, 2, 3), 2,
                                                                    "same", layout="NHWC", need_bias=True)),
        ("batch_norm nchw", lambda: K.batch_norm(f(4, 3, 5, 5), f(3), f(3), 1e-5)),
        ("batch_norm nhwc", lambda: K.batch_norm(f(4, 5, 5, 3), None, None, 1e-5, "NHWC")),
        ("batch_norm rank 2", lambda: K.batch_norm(f(7, 3), f(3), None)),
        ("batch_norm_inference", lambda: K.batch_norm_inference(f(4, 3, 5, 5), f(3), f(3), f(3), f(3))),
        ("batch_norm_backward", lambda: K.batch_norm_backward(f(4, 5, 5, 3), f(4, 5, 5, 3), f(3), f(3), f(3),
                                                              layout="NHWC")),
        ("batch_norm_backward dx only", lambda: K.batch_norm_backward(f(4, 3, 5, 5), f(4, 3, 5, 5), None, f(3), f(3),
                                                                      need_gamma=False, need_beta=False)),
        ("batch_norm_update_stats", lambda: K.batch_norm_update_stats(f(3), f(3), f(3), f(3), 0.1, 100, True)),
    ]


@pytest.mark.parametrize("dt", DTYPES)
def test_gan_plans_launch_existing_kernels(recorder, dt):
    """conv_transpose2d and batch_norm on CUDA arrays run their GPU plans (no "no GPU plan"
    error): every launch names a kernel of that dtype with the kernel's parameter kinds and a
    sane grid, and the outputs are CUDA arrays."""
    s = SFX4[dt]
    for name, call in _gan_calls(dt):
        n0 = len(recorder.calls)
        out = call()
        assert len(recorder.calls) > n0, name
        assert all(c == "memset0" or c.endswith(s) or f"_{s}_" in c for c in recorder.calls[n0:]), \
            (name, recorder.calls[n0:])
        for o in (out if isinstance(out, tuple) else (out,)):
            assert o is None or isinstance(o, FakeCuda), (name, type(o))
    assert {f"conv2d_backward_input_{s}", f"conv_transpose2d_bias_{s}", f"conv2d_{s}", f"conv2d_backward_weight_{s}",
            f"conv2d_backward_bias_{s}", f"batch_norm_stats_{s}", f"batch_norm_apply_{s}",
            f"batch_norm_backward_reduce_{s}", f"batch_norm_backward_apply_{s}",
            f"batch_norm_update_stats_{s}"} <= set(recorder.calls)


def test_gan_plans_launch_sequences(recorder):
    """The plans' structure: forward = the input-gradient GEMM then the bias pass (none without
    a bias); backward = conv2d's forward (dx), its weight gradient (dw), one reduction (dbias);
    batch_norm training = statistics then normalisation, inference = the normalisation only."""
    f = lambda *s: FakeCuda(s)  # noqa: E731
    n0 = len(recorder.calls)
    K.conv_transpose2d(f(2, 3, 5, 4), f(3, 2, 4, 4), f(2), 2, "same")
    assert recorder.calls[n0:] == ["conv2d_backward_input_f32", "conv_transpose2d_bias_f32"]
    n0 = len(recorder.calls)
    K.conv_transpose2d(f(2, 3, 5, 4), f(3, 2, 4, 4), None, 2, "same")
    assert recorder.calls[n0:] == ["conv2d_backward_input_f32"]
    n0 = len(recorder.calls)
    K.conv_transpose2d_backward(f(2, 2, 10, 8), f(2, 3, 5, 4), f(3, 2, 4, 4), 2, "same", need_bias=True)
    assert recorder.calls[n0:] == ["conv2d_f32", "conv2d_backward_weight_f32", "conv2d_backward_bias_f32"]
    assert recorder.grids[-1] == (2, 1, 1)  # one block per output channel
    n0 = len(recorder.calls)
    K.conv_transpose2d_backward(f(2, 2, 10, 8), f(2, 3, 5, 4), f(3, 2, 4, 4), 2, "same", need_x=False)
    assert recorder.calls[n0:] == ["conv2d_backward_weight_f32"]
    n0 = len(recorder.calls)
    K.batch_norm(f(4, 3, 5, 5), f(3), f(3))
    K.batch_norm_inference(f(4, 3, 5, 5), f(3), f(3), f(3), f(3))
    assert recorder.calls[n0:] == ["batch_norm_stats_f32", "batch_norm_apply_f32", "batch_norm_apply_f32"]


def test_gan_plans_bad_input_same_as_cpu(recorder):
    """CUDA arrays get the CPU path's messages (the same C++ checks) and launch nothing."""
    f, n = (lambda *s: FakeCuda(s)), (lambda *s: np.ones(s, np.float32))  # noqa: E731
    for args, kw in (((2, 3, 5, 4), (4, 2, 4, 4)), {}), (((2, 3, 5, 4), (3, 2, 4, 4)), {"output_padding": 3}):
        msgs = []
        for mk in (n, f):
            with pytest.raises(ValueError) as e:
                K.conv_transpose2d(mk(*args[0]), mk(*args[1]), None, 2, **kw)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1] and "twincore.conv_transpose2d" in msgs[0], msgs
    msgs = []
    for mk in (n, f):
        with pytest.raises(ValueError) as e:
            K.batch_norm(mk(4, 3, 5, 5), mk(4), None)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1] and "twincore.batch_norm" in msgs[0] and "gamma" in msgs[0], msgs
    assert recorder.calls == []


CONVT_GEOMETRIES = [  # n, cin, cout, h, w, (kh, kw), stride, padding, output_padding, dilation
    (2, 3, 2, 5, 4, (4, 4), 2, "same", None, 1),  # the GAN's
    (1, 2, 3, 4, 6, (3, 2), (2, 3), (1, 0), (1, 2), 1),
    (2, 3, 4, 3, 5, (3, 3), 1, 2, 0, 2),
    (1, 4, 2, 4, 3, (2, 3), (3, 2), "valid", None, (1, 2)),
    (2, 1, 3, 6, 5, (3, 3), 2, "same", 1, 1),
    (1, 3, 2, 5, 5, (2, 2), 1, 0, 1, 2),  # output_padding >= stride, allowed by the dilation
]


def _random_geometries(rng, count):
    out = []
    while len(out) < count:
        s, d = tuple(int(v) for v in rng.integers(1, 4, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        pad = str(rng.choice(["same", "valid", "explicit"]))
        if pad == "explicit":
            pad = (int(rng.integers(0, k[0])), int(rng.integers(0, k[1])))
        op = None if pad in ("same", "valid") and rng.random() < 0.5 else \
            tuple(int(rng.integers(0, max(s[i], d[i]))) for i in range(2))
        g = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 7)),
             int(rng.integers(2, 7)), k, s, pad, op, d)
        try:  # only geometries the CPU path accepts (the GPU gives the same error otherwise: above)
            x, w, _ = _convt_case("NCHW", *g, rng=np.random.default_rng(0))
            K.conv_transpose2d(x, w, None, s, pad, op, d)
        except ValueError:
            continue
        out.append(g)
    return out


def _convt_check(dt, layout, geo, rng, what):
    n, cin, cout, h, w_, k, s, pad, op, d = geo
    x, w, b = _convt_case(layout, n, cin, cout, h, w_, k, s, pad, op, d, rng, dt)
    args = (s, pad, op, d, layout)
    y = K.conv_transpose2d(x, w, b, *args)  # the CPU kernel on the same (rounded) values
    got = K.conv_transpose2d(_fake(x, dt), _fake(w, dt), _fake(b, dt), *args)
    _tc._emu_close(_from_fake(got), y, dt, f"{what} y {layout} {geo}")
    g = _rounded(rng.standard_normal(y.shape), dt)
    want = K.conv_transpose2d_backward(g, x, w, *args, need_bias=True)
    got = K.conv_transpose2d_backward(_fake(g, dt), _fake(x, dt), _fake(w, dt), *args, need_bias=True)
    for a, b_, name in zip(got, want, ("dx", "dw", "dbias")):
        _tc._emu_close(_from_fake(a), b_, dt, f"{what} {name} {layout} {geo}")


@pytest.mark.slow
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_emu_conv_transpose2d_plans_match_cpu(emu_plans, dt, layout):
    """Our kernels (no vendor GEMM in this build): forward, dx, dw, dbias on fixed and random
    geometries (stride, padding, output_padding, dilation) equal the CPU kernel."""
    rng = np.random.default_rng(21)
    geos = CONVT_GEOMETRIES + _random_geometries(np.random.default_rng(22), 6 if dt in ("float32", "float64") else 2)
    for geo in geos:
        _convt_check(dt, layout, geo, rng, "convT")
    s = SFX4[dt]
    assert {f"conv2d_backward_input_{s}", f"conv2d_{s}", f"conv2d_backward_weight_{s}",
            f"conv_transpose2d_bias_{s}", f"conv2d_backward_bias_{s}"} <= set(emu_plans.launches)


@pytest.mark.slow
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_emu_conv_transpose2d_plans_on_conv_as_gemm(emu_plans, reference_gemm, dt, layout):
    """The same through conv2d's conv-as-GEMM plans (what runs where cuBLASLt loads): the GEMMs
    on the host reference provider (cuBLASLt's acceptance rules), the glue kernels emulated."""
    rng = np.random.default_rng(23)
    for geo in CONVT_GEOMETRIES + _random_geometries(np.random.default_rng(24), 4):
        _convt_check(dt, layout, geo, rng, "convT gemm")
    s = SFX4[dt]
    assert f"conv2d_col2im_{s}" in emu_plans.launches  # the input-gradient GEMM's gather: the GEMM path ran
    assert f"conv2d_backward_input_{s}" not in emu_plans.launches


@pytest.mark.slow
@pytest.mark.parametrize("dt", DTYPES)
def test_emu_batch_norm_plans_match_cpu(emu_plans, dt):
    """Training statistics, inference, backward (each need_* combination) and the running
    statistics update through the plans equal the CPU kernel, in both layouts and rank 2."""
    rng = np.random.default_rng(25)
    r = lambda *s: _rounded(rng.standard_normal(s), dt)  # noqa: E731
    for shape, layout in (((5, 3, 4, 6), "NCHW"), ((5, 4, 6, 3), "NHWC"), ((33, 7), "NCHW"), ((2, 40, 2, 1), "NCHW")):
        C = shape[3] if layout == "NHWC" else shape[1]
        x = _rounded(rng.standard_normal(shape) * 2 + 3, dt)
        for gamma, beta in ((r(C), r(C)), (None, None)):
            want = K.batch_norm(x, gamma, beta, 1e-3, layout)
            fg, fb = (None if a is None else _fake(a, dt) for a in (gamma, beta))
            got = K.batch_norm(_fake(x, dt), fg, fb, 1e-3, layout)
            for a, b, name in zip(got, want, ("y", "mean", "var")):
                _tc._emu_close(_from_fake(a), b, dt, f"batch_norm {name} {shape} {layout}")
            mean, var = _rounded(want[1], dt), _rounded(want[2], dt)
            rm, rv = r(C), np.abs(r(C))
            _tc._emu_close(_from_fake(K.batch_norm_inference(_fake(x, dt), fg, fb, _fake(rm, dt), _fake(rv, dt), 1e-3,
                                                             layout)),
                           K.batch_norm_inference(x, gamma, beta, rm, rv, 1e-3, layout), dt, "batch_norm_inference")
            g = r(*shape)
            for need in ((True, True, True), (True, False, False), (False, True, True)):
                nk = dict(need_x=need[0], need_gamma=need[1], need_beta=need[2])
                want = K.batch_norm_backward(g, x, gamma, mean, var, 1e-3, layout, **nk)
                got = K.batch_norm_backward(_fake(g, dt), _fake(x, dt), fg, _fake(mean, dt), _fake(var, dt), 1e-3,
                                            layout, **nk)
                for a, b, name in zip(got, want, ("dx", "dgamma", "dbeta")):
                    assert (a is None) == (b is None), name
                    if b is not None:
                        _tc._emu_close(_from_fake(a), b, dt, f"batch_norm_backward {name} {shape} {layout} {need}")
            for count, unbiased in ((x.size // C, True), (1, True), (x.size // C, False)):
                want = K.batch_norm_update_stats(rm, rv, mean, var, 0.1, count, unbiased)
                got = K.batch_norm_update_stats(_fake(rm, dt), _fake(rv, dt), _fake(mean, dt), _fake(var, dt), 0.1,
                                                count, unbiased)
                for a, b, name in zip(got, want, ("running_mean", "running_var")):
                    _tc._emu_close(_from_fake(a), b, dt, f"batch_norm_update_stats {name} count={count}")


# ---- one GAN training step's op calls, replayed on fake CUDA arrays -------------------------------

def _gan_step_calls(channels_last: bool, n: int = 2):
    """Every binding call (twincore._core: each op's one entry point, which runs the CPU kernel,
    the GPU plan or the Meta shapes) that one step of the torch frontend's GAN makes:
    discriminator step + its Adam updates, generator step + Adam, then sampling with the
    running statistics. Recorded on CPU tensors as (name, args, outputs, args after the call),
    arrays as NumPy copies; the last argument (the caller's allocator) is dropped."""
    torch = pytest.importorskip("torch")
    import twincore.frontends.torch  # noqa: F401  (imported before the recording: no wrapper leaks)
    from twincore import _core
    from twincore.workloads import gan
    from twincore.workloads.specs import MODELS

    spec = MODELS["gan"]
    calls = []

    def np_of(a):
        return a.detach().cpu().numpy().copy() if isinstance(a, torch.Tensor) else \
            a.copy() if isinstance(a, np.ndarray) else a

    def wrap(name, fn):
        def rec(*args):
            before = [np_of(a) for a in args[:-1]]
            out = fn(*args)
            if any(isinstance(a, torch.Tensor) for a in args):
                outs = tuple(np_of(o) for o in out) if isinstance(out, tuple) else np_of(out)
                calls.append((name, before, outs, [np_of(a) for a in args[:-1]]))
            return out
        return rec

    mp = pytest.MonkeyPatch()
    try:
        for k in dir(_core):
            if not k.startswith("_") and type(getattr(_core, k)).__name__ == "builtin_function_or_method":
                mp.setattr(_core, k, wrap(k, getattr(_core, k)))
        b = gan.make_gan_backend("torch", spec, 0, "float32", channels_last)
        for i, w in enumerate(gan.init_weights(spec, 0, np.float32)):
            b.set_param(i, b.to_native(i, w))
        m = [b.zeros_like(p) for p in b.params]
        v = [b.zeros_like(p) for p in b.params]
        rng = np.random.default_rng(0)
        real = rng.uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32)
        z = rng.standard_normal((3, n, gan.dims(spec)[0])).astype(np.float32)
        _, grads = b.d_step(real, z[0])
        for i, g in enumerate(grads, start=gan.N_G):
            K.adam_step(b.params[i], g, m[i], v[i], 1, lr=2e-4, beta1=0.5, flavor="torch")
        _, grads = b.g_step(z[1])
        for i, g in enumerate(grads):
            K.adam_step(b.params[i], g, m[i], v[i], 1, lr=2e-4, beta1=0.5, flavor="torch")
        b.generate(z[2])
    finally:
        mp.undo()
    return calls


def _replay(calls, launcher, check=None):
    """Each recorded call again on fake CUDA arrays of the same values, through the same
    binding with the fake CUDA allocator; returns the op names."""
    from twincore import _core

    alloc = _tc._fake_kind(launcher).alloc
    ran = []
    for name, args, outs, after in calls:
        fargs = [_fake(a, a.dtype.name) if isinstance(a, np.ndarray) else a for a in args]
        out = getattr(_core, name)(*fargs, alloc)
        got = out if isinstance(out, tuple) else (out,)
        for o in got:
            assert o is None or isinstance(o, FakeCuda), (name, type(o))
        if check:
            want = outs if isinstance(outs, tuple) else (outs,)
            for j, (g, w) in enumerate(zip(got, want)):
                if w is not None:
                    check(_from_fake(g), w, f"{name} output {j}")
            for j, (fa, a) in enumerate(zip(fargs, after)):  # in-place updates (Adam)
                if isinstance(fa, FakeCuda):
                    check(_from_fake(fa), a, f"{name} argument {j} after the call")
        ran.append(name)
    return ran


GAN_OPS = {"matmul", "matmul_backward", "batch_norm", "batch_norm_backward", "batch_norm_update_stats",
           "batch_norm_inference", "relu", "relu_backward", "conv_transpose2d", "conv_transpose2d_backward", "tanh",
           "tanh_backward", "conv2d", "conv2d_backward", "leaky_relu", "leaky_relu_backward",
           "binary_cross_entropy_with_logits", "adam_step"}


@pytest.mark.parametrize("channels_last", [False, True], ids=["NCHW", "NHWC"])
def test_gan_train_step_ops_all_have_gpu_plans(recorder, channels_last):
    """`twincore train --model gan --frontend torch --device cuda` can run: every kernel call of
    one GAN step (both nets, forward, backward, Adam, sampling) goes through a GPU plan whose
    launches match the kernels (no "no GPU plan" error anywhere)."""
    calls = _gan_step_calls(channels_last)
    ran = set(_replay(calls, recorder))
    assert ran >= GAN_OPS, GAN_OPS - ran
    assert any(c.startswith("conv_transpose2d_bias") for c in recorder.calls)
    assert any(c.startswith("batch_norm_stats") for c in recorder.calls)


@pytest.mark.slow
def test_emu_gan_train_step_on_gpu_plans_equals_cpu(emu_plans):
    """The same step's calls through the plans on the emulated kernels give the CPU results
    (float32), in Keras's layout (the torch frontend's channels_last)."""
    calls = _gan_step_calls(True)
    _replay(calls, emu_plans, lambda got, want, what: _tc._emu_close(got, want, "float32", what))
    assert "conv_transpose2d_bias_f32" in emu_plans.launches
