"""The one-read softmax cross-entropy kernel (softmax_cross_entropy_reg_* in
kernels/cuda/softmax_cross_entropy.cu: the row kept in registers, so the logits are read
once and dlogits written once, optionally in place), run in the CPU emulator of
tests/kernels/cuda_emu against a float64 NumPy reference and against the two-pass kernel:
NaN rows for labels outside [0, C), logits of +-1e4, -inf logits, label smoothing, the
in-place gradient (dl aliasing the logits)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from support import load_test_cuda


_tc = load_test_cuda()
emu_lib = _tc.emu_lib
SFX = {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}
TOL = {"float64": 1e-12, "float32": 2e-6, "float16": 2e-3, "bfloat16": 1e-2}


@pytest.fixture(scope="module")
def launcher(emu_lib):
    mod, path = emu_lib
    return mod.EmuLauncher(path)


def _buf(a, dt):
    """A host buffer holding a in dtype dt (bf16 as its bits) and its float64 view back."""
    if dt == "bfloat16":
        b = _tc._to_bf16_bits(a)
        return b, (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    b = np.ascontiguousarray(a, dtype=dt)
    return b, b.astype(np.float64)


def _back(b, dt):
    return (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64) if dt == "bfloat16" else b.astype(np.float64)


def _reference(x, y, smooth, scale):
    N, C = x.shape
    ok = (y >= 0) & (y < C)
    t = np.full((N, C), smooth / C)
    t[np.arange(N)[ok], y[ok]] += 1 - smooth
    with np.errstate(invalid="ignore", over="ignore"):
        m = x.max(1, keepdims=True)
        e = np.exp(x - m)
        se = e.sum(1, keepdims=True)
        z = np.where(t > 0, t * (x - m), 0.0)
        loss = np.log(se[:, 0]) - z.sum(1)
        dl = (e / se - t) * scale
    loss[~ok] = np.nan
    dl[~ok] = np.nan
    return loss, dl


def _launch(launcher, kernel, x, y, smooth, scale, rows, dl, block):
    N, C = x.shape
    args = [("p", x.ctypes.data), ("p", y.ctypes.data), ("i", N), ("i", C), ("d", smooth), ("d", scale),
            ("p", rows.ctypes.data), ("p", 0), ("p", 0 if dl is None else dl.ctypes.data)]
    kinds = "".join(k for k, _ in args)
    slots = struct.pack("<" + "".join({"p": "Q", "i": "q", "d": "d"}[k] for k in kinds), *[v for _, v in args])
    launcher.launch("softmax_cross_entropy.cu", kernel, (min(N, 3), 1, 1), (block, 1, 1), 0, slots, 0, 0, kinds)


@pytest.mark.parametrize("dt", ["float64", "float32", "float16", "bfloat16"])
def test_one_read_kernel_matches_reference_and_two_pass(launcher, dt):
    rng = np.random.default_rng(11)
    sfx = SFX[dt]
    for (N, C, block, smooth) in ((5, 1, 32, 0.0), (4, 7, 32, 0.1), (6, 100, 64, 0.0), (3, 2048, 64, 0.2),
                                  (4, 999, 32, 0.0)):
        x = rng.standard_normal((N, C)) * 3
        if C > 2:
            x[0, 1] = 1e4 if dt in ("float64", "float32") else 300.0  # large logits lose nothing
            x[1, 0] = -np.inf                                         # a -inf logit
        y = rng.integers(0, C, N).astype(np.int64)
        y[-1] = C  # outside [0, C): a NaN row
        xb, x64 = _buf(x, dt)
        want_loss, want_dl = _reference(x64, y, smooth, 0.5)
        got = {}
        for kernel in (f"softmax_cross_entropy_reg_{sfx}_i64", f"softmax_cross_entropy_{sfx}_i64"):
            rows, dl = np.zeros_like(xb[:, 0]), np.zeros_like(xb)
            _launch(launcher, kernel, xb, y, smooth, 0.5, rows, dl, block)
            got[kernel] = (_back(rows, dt), _back(dl, dt))
        one, two = got.values()
        tol = TOL[dt]
        what = f"{dt} N={N} C={C} s={smooth}"
        np.testing.assert_allclose(one[0], want_loss, rtol=tol, atol=tol * 10, err_msg="loss " + what)
        np.testing.assert_allclose(one[1], want_dl, rtol=tol, atol=tol, err_msg="dlogits " + what)
        assert np.isnan(one[0][-1]) and np.isnan(one[1][-1]).all()
        # the same numbers as the two-pass kernel (same arithmetic, summed in another order)
        np.testing.assert_allclose(one[0], two[0], rtol=tol, atol=tol, err_msg="vs two-pass " + what)
        np.testing.assert_allclose(one[1], two[1], rtol=tol, atol=tol, err_msg="vs two-pass " + what)
        # in place: dlogits written over the logits, equal to the out-of-place result
        inplace = xb.copy()
        rows = np.zeros_like(xb[:, 0])
        _launch(launcher, f"softmax_cross_entropy_reg_{sfx}_i64", inplace, y, smooth, 0.5, rows, inplace, block)
        np.testing.assert_array_equal(_back(inplace, dt), one[1])
        np.testing.assert_array_equal(_back(rows, dt), one[0])
    assert f"softmax_cross_entropy_reg_{sfx}_i64" in launcher.launches
