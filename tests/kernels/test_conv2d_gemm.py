"""conv2d as im2col + vendor GEMM (cpp/gpu/conv2d_gemm.cc), checked without a GPU.

The plans run end to end on a test-only executor (cpp/gpu/conv2d_gemm_bind.cc): each kernel
launch goes to the CPU emulator of tests/kernels/cuda_emu (the real conv2d.cu kernels:
im2col, col2im, the dY transpose, bias/activation passes) and each GEMM to the host
reference provider (cpp/gpu/gemm_reference.cc, `_core._use_reference_gemm`), which accepts
exactly the epilogues the cuBLASLt provider accepts. Results are compared with the CPU
kernel (twincore.kernels.conv2d on NumPy) in float64 on random shapes, strides, paddings,
dilations, activations and both layouts, with the col buffers forced into several chunks.
Not covered here: cuBLASLt itself (needs a GPU: tests marked gpu, `make gpu-check`).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import twincore.kernels as K
from twincore import _core
from support import load_test_cuda


_tc = load_test_cuda()
EMU_TOL, _fake, _from_fake, _rounded, emu_lib = _tc.EMU_TOL, _tc._fake, _tc._from_fake, _tc._rounded, _tc.emu_lib

pytestmark = pytest.mark.skipif(not hasattr(_core, "_conv2d_gemm_forward_test"), reason="needs the test binding")


@pytest.fixture(scope="module")
def emu_fn(emu_lib):  # noqa: F811
    _, path = emu_lib
    lib = ctypes.CDLL(str(path))
    return ctypes.cast(lib.tc_emu_launch, ctypes.c_void_p).value


@pytest.fixture
def reference_gemm():
    _core._use_reference_gemm(True)
    assert _core.gemm_provider() == "reference"
    yield
    _core._use_reference_gemm(False)


def _close(got, want, dt, what):
    from twincore.testing import assert_close

    rtol, atol = EMU_TOL[dt]
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max()))
    if dt in ("float16", "bfloat16"):
        want = _rounded(want, dt)
    assert_close(got, want, rtol=rtol, atol=atol * scale, what=f"{what} [{dt}]")


def _shapes(layout, n, c, h, w, o, kh, kw):
    xs = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
    ws = (o, c, kh, kw) if layout == "NCHW" else (kh, kw, c, o)
    return xs, ws


def _run(emu_fn, dt, layout, n, c, h, w, o, kh, kw, stride, padding, dil, act, with_bias, limit, rng):
    r = lambda *s: _rounded(rng.standard_normal(s), dt)  # noqa: E731
    xs, ws = _shapes(layout, n, c, h, w, o, kh, kw)
    x, wt = r(*xs), r(*ws)
    bias = r(o) if with_bias else None
    want = K.conv2d(x, wt, bias, stride, padding, dil, layout, activation=act)
    y = _fake(np.zeros(want.shape), dt)
    ok, launched = _core._conv2d_gemm_forward_test(emu_fn, _fake(x, dt), _fake(wt, dt),
                                                   None if bias is None else _fake(bias, dt), y, stride, padding,
                                                   dil, layout, act, limit, False)
    what = f"{layout} x{xs} w{ws} s{stride} p{padding} d{dil} {act} bias={with_bias} limit={limit}"
    assert ok, what
    _close(_from_fake(y), want, dt, "forward " + what)
    assert not any(k.startswith("conv2d_f") or k.startswith("conv2d_backward_") and "bias" not in k
                   for k in launched), launched  # never the implicit-GEMM kernels
    g = r(*want.shape)
    wdx, wdw, wdb = K.conv2d_backward(g, x, wt, stride, padding, dil, layout, need_bias=True,
                                      y=want if act else None, activation=act)
    dx, dw, db = _fake(np.zeros(x.shape), dt), _fake(np.zeros(wt.shape), dt), _fake(np.zeros(o), dt)
    yf = _fake(want, dt) if act else None
    ok, launched_b = _core._conv2d_gemm_backward_test(emu_fn, _fake(g, dt), _fake(x, dt), _fake(wt, dt), dx, dw, db,
                                                      yf, stride, padding, dil, layout, act, limit)
    assert ok, what
    _close(_from_fake(dx), wdx, dt, "dx " + what)
    _close(_from_fake(dw), wdw, dt, "dw " + what)
    _close(_from_fake(db), wdb, dt, "dbias " + what)
    # the weight gradient is a GEMM over N*OH*OW, never the per-weight serial kernel
    assert not any(k.startswith("conv2d_backward_weight") or k.startswith("conv2d_backward_input")
                   for k in launched_b), launched_b
    return launched, launched_b


CASES = [  # layout, n, c, h, w, o, kh, kw, stride, padding, dilation, act, bias, scratch limit (bytes)
    ("NCHW", 2, 3, 9, 7, 4, 3, 3, 1, "same", 1, None, True, 1 << 30),
    ("NHWC", 2, 3, 9, 7, 4, 3, 3, 1, "same", 1, "relu", True, 1 << 30),
    ("NCHW", 3, 2, 8, 8, 3, 3, 3, 2, "same", 1, "tanh", True, 1),       # one image per chunk
    ("NHWC", 3, 2, 8, 8, 3, 3, 3, 2, "same", 1, None, True, 1),
    ("NCHW", 2, 1, 7, 9, 2, 2, 3, (2, 1), 1, 2, "relu", False, 1 << 30),
    ("NHWC", 2, 1, 7, 9, 2, 2, 3, (1, 2), (1, 2), (2, 1), "tanh", False, 1 << 30),
    ("NCHW", 3, 4, 5, 6, 3, 1, 1, 1, 0, 1, None, True, 1 << 30),        # 1x1: col = x
    ("NHWC", 3, 4, 5, 6, 3, 1, 1, 1, 0, 1, "relu", True, 1 << 30),
    ("NHWC", 3, 4, 5, 6, 3, 1, 1, 1, 0, 1, None, True, 200),            # 1x1 in chunks
    ("NCHW", 2, 3, 6, 6, 2, 1, 1, 2, "valid", 1, None, True, 1 << 30),  # 1x1 stride 2: not direct
    ("NHWC", 2, 2, 6, 5, 3, 3, 3, 1, "valid", 1, None, True, 2000),     # several images per chunk
    ("NCHW", 2, 2, 6, 5, 3, 3, 3, 1, "valid", 1, None, True, 2000),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_conv2d_gemm_float64_matches_cpu(emu_fn, reference_gemm, case):
    layout, n, c, h, w, o, kh, kw, stride, padding, dil, act, bias, limit = case
    fwd, bwd = _run(emu_fn, "float64", layout, n, c, h, w, o, kh, kw, stride, padding, dil, act, bias, limit,
                    np.random.default_rng(hash(case) % 2**32))
    direct = kh == kw == 1 and stride == 1 and padding == 0
    assert any("im2col" in k for k in fwd) != direct, fwd
    if layout == "NHWC" and direct:
        assert not any("col2im" in k for k in bwd), bwd
    if layout == "NHWC":  # bias and relu fused into the GEMM; tanh is a kernel after it
        assert any("bias_act" in k for k in fwd) == (act == "tanh"), fwd
        if limit >= 1 << 30:  # one chunk: the bias gradient fused into the weight GEMM
            assert not any(k.startswith("conv2d_backward_bias") for k in bwd), bwd


@pytest.mark.parametrize("dt", ["float32", "float16", "bfloat16"])
def test_conv2d_gemm_low_precision(emu_fn, reference_gemm, dt):
    rng = np.random.default_rng(5)
    for layout in ("NCHW", "NHWC"):
        _run(emu_fn, dt, layout, 2, 3, 7, 6, 4, 3, 3, 2, "same", 1, "relu", True, 1 << 30, rng)


def test_conv2d_gemm_random_geometry(emu_fn, reference_gemm):
    rng = np.random.default_rng(7)
    for _ in range(6):
        layout = ("NCHW", "NHWC")[rng.integers(2)]
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        h, w = int(rng.integers(kh * dil[0], 10)), int(rng.integers(kw * dil[1], 10))
        padding = [0, 1, "same", "valid"][rng.integers(4)]
        if padding == "same" and stride != (1, 1):
            padding = 1
        act = [None, "relu", "tanh"][rng.integers(3)]
        limit = [1, 3000, 1 << 30][rng.integers(3)]
        _run(emu_fn, "float64", layout, int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w,
             int(rng.integers(1, 5)), kh, kw, stride, padding, dil, act, bool(rng.integers(2)), limit, rng)


def test_conv2d_gemm_unfused_fallbacks(emu_fn):
    """A provider that fuses no epilogue (bias, relu, bias gradient all declined): the plans
    run the plain GEMM and the bias/activation and bias-gradient kernels instead."""
    _core._use_reference_gemm(True, epilogues=False)
    try:
        rng = np.random.default_rng(9)
        for layout in ("NHWC", "NCHW"):
            fwd, bwd = _run(emu_fn, "float64", layout, 2, 3, 6, 5, 4, 3, 3, 1, "same", 1, "relu", True, 1 << 30, rng)
            assert any("bias_act" in k for k in fwd), fwd
            assert any(k.startswith("conv2d_backward_bias") for k in bwd), bwd
    finally:
        _core._use_reference_gemm(False)


def test_conv2d_gemm_without_provider_declines(emu_fn):
    """No GEMM provider (the CPU build, or cuBLASLt missing): the plan says so and launches nothing."""
    if _core.gemm_provider() != "none":
        pytest.skip("a GEMM provider is registered and usable in this build")
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))
    y = _fake(np.zeros((1, 1, 2, 2)), "float64")
    ok, launched = _core._conv2d_gemm_forward_test(emu_fn, _fake(x, "float64"), _fake(w, "float64"), None, y, 1, 0,
                                                   1, "NCHW", None, 1 << 30, False)
    assert (ok, launched) == (False, [])
