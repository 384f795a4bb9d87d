"""The GAN ops' CUDA kernels (kernels/cuda/leaky_relu.cu, binary_cross_entropy_with_logits.cu, batch_norm.cu,
conv_transpose2d.cu) run in the CPU emulation of tests/kernels/cuda_emu, launched directly
(their host plans land with cpp/gpu), against the CPU kernels; and the sources' NVRTC rules.
conv_transpose2d's GEMM work runs on conv2d.cu's kernels, tested in test_cuda.py."""

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
