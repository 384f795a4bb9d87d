"""The CUDA kernels of issue 16's LSTM half (sigmoid in activations.cu, embedding.cu,
lstm.cu) run in the CPU emulation of tests/kernels/cuda_emu and compared with the CPU
kernels. The launches are driven here as the GPU plans will drive them (cpp/gpu/lstm.cc:
the GEMMs between the pointwise kernels are NumPy's in this test), so every kernel's
indexing and arithmetic is checked without a GPU."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import twincore.kernels as K
from twincore.testing import assert_close, randn

pytestmark = pytest.mark.slow  # builds the emulation (g++ over every .cu file) once

SUFFIX = {np.float32: "f32", np.float64: "f64"}
TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


@pytest.fixture(scope="module")
def emu():
    sys.path.insert(0, str(Path(__file__).parent / "cuda_emu"))
    try:
        import emu_build
    finally:
        sys.path.pop(0)
    try:
        return emu_build.EmuLauncher(emu_build.build()).lib
    except RuntimeError as e:
        pytest.skip(f"CPU emulation not built: {e}")


def launch(lib, kernel, grid, block, *args):
    """One launch with the kernel ABI's 8-byte slots: arrays as pointers, None as null,
    floats as doubles, ints as long long."""
    fmt, vals = "<", []
    for a in args:
        if isinstance(a, np.ndarray):
            fmt, v = fmt + "Q", a.ctypes.data
        elif a is None:
            fmt, v = fmt + "Q", 0
        elif isinstance(a, float):
            fmt, v = fmt + "d", a
        else:
            fmt, v = fmt + "q", int(a)
        vals.append(v)
    g = tuple(grid) + (1,) * (3 - len(grid))
    rc = lib.tc_emu_launch(kernel.encode(), g[0], g[1], g[2], block, struct.pack(fmt, *vals), len(args))
    assert rc == 0, f"{kernel}: rc {rc}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_kernels(emu, dtype):
    x = randn((1000,), dtype, seed=1, scale=6.0)
    x[:3] = [-200.0, 200.0, 0.0]
    g = randn((1000,), dtype, seed=2)
    y, dx = np.empty_like(x), np.empty_like(x)
    launch(emu, f"sigmoid_{SUFFIX[dtype]}", (3,), 64, x, y, x.size)
    assert_close(y, K.sigmoid(x), **TOL[dtype], what="sigmoid")
    launch(emu, f"sigmoid_backward_{SUFFIX[dtype]}", (3,), 64, g, y, dx, x.size)
    assert_close(dx, K.sigmoid_backward(g, y), **TOL[dtype], what="sigmoid_backward")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_embedding_kernels(emu, dtype, id_dtype):
    V, D = 37, 20
    ids = np.random.default_rng(0).integers(0, V, size=(9, 7)).astype(id_dtype)
    ids[0, :4] = 3  # repeats
    w = randn((V, D), dtype, seed=3)
    g = randn(ids.shape + (D,), dtype, seed=4)
    out, bad = np.empty(ids.shape + (D,), dtype), np.zeros(1, np.int64)
    s, i64 = SUFFIX[dtype], int(id_dtype == np.int64)
    launch(emu, f"embedding_{s}", (4,), 64, w, ids, i64, out, ids.size, V, D, bad)
    np.testing.assert_array_equal(out, K.embedding(ids, w))
    assert bad[0] == 0
    for pad in (-1, 3):
        dw = np.zeros((V, D), dtype)
        launch(emu, f"embedding_backward_{s}", (1, 5), 32, g, ids, i64, dw, ids.size, V, D, pad, 8)
        want = K.embedding_backward(g, ids, V, padding_idx=None if pad < 0 else pad)
        np.testing.assert_array_equal(dw, want)  # same order of additions as the CPU kernel: same bits
    ids[1, 1] = V  # out of range: a zero row and the flag, never a read out of bounds
    launch(emu, f"embedding_{s}", (4,), 64, w, ids, i64, out, ids.size, V, D, bad)
    assert bad[0] == 1 and not out[1, 1].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("states", [True, False])
def test_lstm_kernels(emu, dtype, batch_first, states):
    T, B, I, H = 5, 3, 4, 6
    s = SUFFIX[dtype]
    x = randn((B, T, I) if batch_first else (T, B, I), dtype, seed=5)
    w_ih, w_hh = randn((4 * H, I), dtype, seed=6, scale=0.4), randn((4 * H, H), dtype, seed=7, scale=0.4)
    bias = randn((4 * H,), dtype, seed=8, scale=0.4) if states else None
    h0, c0 = (randn((B, H), dtype, seed=9), randn((B, H), dtype, seed=10)) if states else (None, None)
    st, sb = (1, T) if batch_first else (B, 1)
    rows = T * B
    rows_t = lambda t: [t * st + b * sb for b in range(B)]  # noqa: E731

    # forward, as the plan runs it
    ws = np.empty((rows, 6 * H), dtype)
    y, hn, cn = np.empty((rows, H), dtype), np.empty((B, H), dtype), np.empty((B, H), dtype)
    launch(emu, f"lstm_prepare_{s}", (2,), 64, ws, bias, h0, T, B, H, sb)
    ws[:, :4 * H] += x.reshape(rows, I) @ w_ih.T
    for t in range(T):
        r = rows_t(t)
        if t > 0 or h0 is not None:
            ws[r, :4 * H] += ws[r, 5 * H:] @ w_hh.T
        launch(emu, f"lstm_cell_{s}", (2,), 32, ws, c0, y, hn, cn, t, T, B, H, st, sb)
    wy, whn, wcn, wws = K.lstm(x, w_ih, w_hh, bias, h0, c0, batch_first=batch_first)
    for got, want, what in ((y, wy.reshape(rows, H), "y"), (hn, whn, "h_n"), (cn, wcn, "c_n"), (ws, wws.reshape(rows, -1), "ws")):
        assert_close(got, want, **TOL[dtype], what=what)

    # backward
    gy, ghn, gcn = randn((rows, H), dtype, seed=11), randn((B, H), dtype, seed=12), randn((B, H), dtype, seed=13)
    dc, dg = np.empty((B, H), dtype), np.empty((rows, 4 * H), dtype)
    launch(emu, f"lstm_state_init_{s}", (1,), 32, gcn, dc, B * H)
    dh = ghn
    for t in reversed(range(T)):
        launch(emu, f"lstm_cell_backward_{s}", (2,), 32, ws, c0, gy, dh, dc, dg, t, B, H, st, sb)
        dh = np.ascontiguousarray(dg[rows_t(t)] @ w_hh)
    dc0, db = np.empty((B, H), dtype), np.empty(4 * H, dtype)
    launch(emu, f"lstm_state_out_{s}", (1,), 32, dc, dc0, B * H)
    launch(emu, f"lstm_bias_grad_{s}", (1,), 32, dg, db, rows, 4 * H)
    got = {"dx": dg @ w_ih, "dw_ih": dg.T @ x.reshape(rows, I), "dw_hh": dg.T @ ws[:, 5 * H:], "dbias": db,
           "dh0": dh, "dc0": dc0}
    want = K.lstm_backward(gy.reshape(wy.shape), ghn, gcn, x, w_ih, w_hh, h0, c0, wws, batch_first=batch_first)
    for k, what in enumerate(("dx", "dw_ih", "dw_hh", "dbias", "dh0", "dc0")):
        if want[k] is not None:
            assert_close(got[what], want[k].reshape(got[what].shape), **TOL[dtype], what=what)


# ---- the GPU plans themselves (cpp/gpu/{lstm,embedding,sigmoid}.cc) on the emulation ----------

@pytest.fixture(scope="module")
def plans(emu):
    """cpp/gpu's plans + tests/kernels/cuda_emu/plan_shim.cc (an executor on the emulation),
    built with g++ once per source hash."""
    import ctypes
    import hashlib
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    srcs = [root / "cpp/gpu/lstm.cc", root / "cpp/gpu/embedding.cc", root / "cpp/gpu/sigmoid.cc",
            root / "cpp/core/tensor.cc", Path(__file__).parent / "cuda_emu/plan_shim.cc"]
    h = hashlib.sha256(b"".join(p.read_bytes() for p in srcs + sorted((root / "cpp/gpu").glob("*.h")))).hexdigest()
    lib = root / "build" / "cuda_emu" / f"plans-{h[:16]}.so"
    if not lib.exists():
        if shutil.which("g++") is None:
            pytest.skip("needs g++")
        lib.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{root / 'cpp'}", *map(str, srcs),
                            "-o", str(lib) + ".tmp"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        Path(str(lib) + ".tmp").rename(lib)
    p = ctypes.CDLL(str(lib))
    return p, ctypes.cast(emu.tc_emu_launch, ctypes.c_void_p).value


def _ptr(a):
    return None if a is None else a.ctypes.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("states", [True, False])
def test_lstm_gpu_plan(plans, dtype, batch_first, states):
    import ctypes

    lib, fn = plans
    T, B, I, H = 4, 3, 5, 6
    x = randn((B, T, I) if batch_first else (T, B, I), dtype, seed=1)
    w_ih, w_hh = randn((4 * H, I), dtype, seed=2, scale=0.4), randn((4 * H, H), dtype, seed=3, scale=0.4)
    bias = randn((4 * H,), dtype, seed=4, scale=0.4) if states else None
    h0, c0 = (randn((B, H), dtype, seed=5), randn((B, H), dtype, seed=6)) if states else (None, None)
    xs = (ctypes.c_int64 * 3)(*x.shape)
    y, hn, cn = np.empty(x.shape[:2] + (H,), dtype), np.empty((B, H), dtype), np.empty((B, H), dtype)
    ws = np.empty(x.shape[:2] + (6 * H,), dtype)
    f64 = int(dtype == np.float64)
    args = [ctypes.c_void_p(fn), f64, xs, int(batch_first), ctypes.c_int64(H)]
    rc = lib.plan_lstm(*args, *[ctypes.c_void_p(_ptr(a)) for a in (x, w_ih, w_hh, bias, h0, c0, y, hn, cn, ws)])
    assert rc == 0
    want = K.lstm(x, w_ih, w_hh, bias, h0, c0, batch_first=batch_first)
    for got, w, what in zip((y, hn, cn, ws), want, ("y", "h_n", "c_n", "ws")):
        assert_close(got, w, **TOL[dtype], what=what)
    gy, ghn, gcn = randn(y.shape, dtype, seed=7), randn((B, H), dtype, seed=8), randn((B, H), dtype, seed=9)
    outs = [np.empty_like(x), np.empty_like(w_ih), np.empty_like(w_hh), np.empty(4 * H, dtype)]
    outs += [np.empty((B, H), dtype), np.empty((B, H), dtype)] if states else [None, None]
    rc = lib.plan_lstm_backward(*args, *[ctypes.c_void_p(_ptr(a)) for a in (x, w_ih, w_hh, h0, c0, ws, gy, ghn, gcn,
                                                                              *outs)])
    assert rc == 0
    want = K.lstm_backward(gy, ghn, gcn, x, w_ih, w_hh, h0, c0, want[3], batch_first=batch_first)
    for got, w, what in zip(outs, want, ("dx", "dw_ih", "dw_hh", "dbias", "dh0", "dc0")):
        if w is not None:
            assert_close(got, w, **TOL[dtype], what=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_and_sigmoid_gpu_plans(plans, dtype):
    import ctypes

    lib, fn = plans
    V, D = 300, 130  # two column blocks, several vocabulary slices
    ids = np.random.default_rng(0).integers(0, V, size=500).astype(np.int64)
    ids[:50] = 7
    w, g = randn((V, D), dtype, seed=1), randn((500, D), dtype, seed=2)
    out, dw = np.empty((500, D), dtype), np.full((V, D), np.nan, dtype)
    P = ctypes.c_void_p
    rc = lib.plan_embedding(P(fn), int(dtype == np.float64), 1, ctypes.c_int64(500), ctypes.c_int64(V),
                            ctypes.c_int64(D), P(_ptr(ids)), P(_ptr(w)), P(_ptr(out)), P(_ptr(g)), P(_ptr(dw)),
                            ctypes.c_int64(3))
    assert rc == 0
    np.testing.assert_array_equal(out, K.embedding(ids, w))
    np.testing.assert_array_equal(dw, K.embedding_backward(g, ids, V, padding_idx=3))
    x, gs = randn((1000,), dtype, seed=3, scale=5), randn((1000,), dtype, seed=4)
    y, dx = np.empty_like(x), np.empty_like(x)
    assert lib.plan_sigmoid(P(fn), int(dtype == np.float64), ctypes.c_int64(1000), P(_ptr(x)), P(_ptr(y)),
                            P(_ptr(gs)), P(_ptr(dx))) == 0
    assert_close(y, K.sigmoid(x), **TOL[dtype])
    assert_close(dx, K.sigmoid_backward(gs, y), **TOL[dtype])
