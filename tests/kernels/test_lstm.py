import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import lstm as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls

from support import requires_tf, requires_torch


def _problem(T, B, I, H, dtype, seed=0, batch_first=False, states=True, bias=True):
    x = randn((B, T, I) if batch_first else (T, B, I), dtype, seed=seed)
    s = 1.0 / np.sqrt(H)
    w_ih = randn((4 * H, I), dtype, seed=seed + 1, scale=s)
    w_hh = randn((4 * H, H), dtype, seed=seed + 2, scale=s)
    b = randn((4 * H,), dtype, seed=seed + 3, scale=s) if bias else None
    h0 = randn((B, H), dtype, seed=seed + 4) if states else None
    c0 = randn((B, H), dtype, seed=seed + 5) if states else None
    return x, w_ih, w_hh, b, h0, c0


def _tol(dtype):
    return {"rtol": 2e-4, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-11}


@pytest.mark.parametrize("T,B,I,H", [(1, 1, 1, 1), (5, 3, 7, 4), (9, 17, 13, 33), (3, 2, 28, 128)])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("states", [True, False], ids=["h0c0", "zeros"])
def test_parity_with_reference(T, B, I, H, batch_first, states, dtype, isa):
    x, w_ih, w_hh, b, h0, c0 = _problem(T, B, I, H, dtype, seed=T + H, batch_first=batch_first, states=states)
    y, hn, cn, ws = K.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=batch_first)
    ry, rhn, rcn, cache = ref.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=batch_first)
    assert y.dtype == dtype and y.shape == ry.shape and ws.shape == x.shape[:2] + (6 * H,)
    for got, want, what in ((y, ry, "y"), (hn, rhn, "h_n"), (cn, rcn, "c_n")):
        assert_close(got, want, **_tol(dtype), what=what)
    gy = randn(y.shape, dtype, seed=11)
    ghn, gcn = randn(hn.shape, dtype, seed=12), randn(cn.shape, dtype, seed=13)
    got = K.lstm_backward(gy, ghn, gcn, x, w_ih, w_hh, h0, c0, ws, batch_first=batch_first)
    want = ref.lstm_backward(gy, ghn, gcn, cache)
    for k, what in enumerate(("dx", "dw_ih", "dw_hh", "dbias", "dh0", "dc0")):
        if not states and what in ("dh0", "dc0"):
            assert got[k] is None
            continue
        assert_close(got[k], want[k], **_tol(dtype), what=what)


def test_last_state_only_and_no_bias(isa):
    x, w_ih, w_hh, _, h0, c0 = _problem(6, 4, 5, 8, np.float64, seed=3, bias=False)
    y, hn, cn, ws = K.lstm(x, w_ih, w_hh, None, h0, c0, return_sequences=False)
    assert y is None
    _, rhn, rcn, cache = ref.lstm(x, w_ih, w_hh, None, h0, c0)
    assert_close(hn, rhn, **_tol(np.float64))
    ghn = randn(hn.shape, np.float64, seed=4)
    dx, dwih, dwhh, db, dh0, dc0 = K.lstm_backward(None, ghn, None, x, w_ih, w_hh, h0, c0, ws, need_bias=False)
    want = ref.lstm_backward(None, ghn, None, cache)
    assert db is None
    for got, w, what in ((dx, want[0], "dx"), (dwih, want[1], "dw_ih"), (dwhh, want[2], "dw_hh"),
                         (dh0, want[4], "dh0"), (dc0, want[5], "dc0")):
        assert_close(got, w, **_tol(np.float64), what=what)


@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck(batch_first):
    x, w_ih, w_hh, b, h0, c0 = _problem(4, 3, 2, 3, np.float64, seed=7, batch_first=batch_first)
    cy, ch, cc = randn((3, 4, 3) if batch_first else (4, 3, 3), seed=8), randn((3, 3), seed=9), randn((3, 3), seed=10)

    def loss():
        y, hn, cn, _ = K.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=batch_first)
        return float((y * cy).sum() + (hn * ch).sum() + (cn * cc).sum())

    ws = K.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=batch_first)[3]
    grads = K.lstm_backward(cy, ch, cc, x, w_ih, w_hh, h0, c0, ws, batch_first=batch_first)
    check_grads(loss, [x, w_ih, w_hh, b, h0, c0], grads, names=["x", "w_ih", "w_hh", "bias", "h0", "c0"])


def test_deterministic_and_threads_agree():
    x, w_ih, w_hh, b, h0, c0 = _problem(7, 50, 9, 32, np.float32, seed=1)
    before = K.num_threads()
    outs = []
    try:
        for n in (before, 1, before):
            K.set_num_threads(n)
            y, hn, cn, ws = K.lstm(x, w_ih, w_hh, b, h0, c0)
            outs.append((y, *K.lstm_backward(y, hn, cn, x, w_ih, w_hh, h0, c0, ws)))
    finally:
        K.set_num_threads(before)
    for a, c in zip(outs[0], outs[2]):
        np.testing.assert_array_equal(a, c)  # same bits every run


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
def test_one_thread_gives_the_pools_bits(batch_first, isa):
    # Steps run in blocks of batch rows, the whole-sequence GEMMs in blocks of rows, dw in blocks of
    # gate rows: a row's sums never depend on the split, so 1 thread and the pool agree bit for bit
    # (B = 37: blocks of 16 with a short one; H = 40: an edge panel on every path).
    x, w_ih, w_hh, b, h0, c0 = _problem(6, 37, 11, 40, np.float32, seed=2, batch_first=batch_first)
    before = K.num_threads()
    outs = []
    try:
        for n in (max(before, 2), 1):
            K.set_num_threads(n)
            y, hn, cn, ws = K.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=batch_first)
            outs.append((y, hn, cn, *K.lstm_backward(y, hn, cn, x, w_ih, w_hh, h0, c0, ws, batch_first=batch_first)))
    finally:
        K.set_num_threads(before)
    for a, c in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, c)


@requires_torch
@pytest.mark.parametrize("batch_first", [False, True])
def test_torch_nn_lstm_parity(batch_first):
    import torch

    torch.manual_seed(0)
    T, B, I, H = 6, 5, 7, 9
    m = torch.nn.LSTM(I, H, batch_first=batch_first).double()
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
    y, (hn, cn) = m(x, (h0, c0))
    gy, gh, gc = torch.randn_like(y), torch.randn_like(hn), torch.randn_like(cn)
    torch.autograd.backward([y, hn, cn], [gy, gh, gc])
    w_ih, w_hh = m.weight_ih_l0.detach(), m.weight_hh_l0.detach()
    bias = (m.bias_ih_l0 + m.bias_hh_l0).detach()  # torch's two biases act as one
    oy, ohn, ocn, ws = K.lstm(x.detach(), w_ih, w_hh, bias, h0[0].detach(), c0[0].detach(), batch_first=batch_first)
    torch.testing.assert_close(oy, y.detach())
    torch.testing.assert_close(ohn, hn[0].detach())
    torch.testing.assert_close(ocn, cn[0].detach())
    dx, dwih, dwhh, db, dh0, dc0 = K.lstm_backward(gy, gh[0], gc[0], x.detach(), w_ih, w_hh, h0[0].detach(),
                                                   c0[0].detach(), ws, batch_first=batch_first)
    torch.testing.assert_close(dx, x.grad)
    torch.testing.assert_close(dwih, m.weight_ih_l0.grad)
    torch.testing.assert_close(dwhh, m.weight_hh_l0.grad)
    torch.testing.assert_close(db, m.bias_ih_l0.grad)
    torch.testing.assert_close(db, m.bias_hh_l0.grad)
    torch.testing.assert_close(dh0, h0.grad[0])
    torch.testing.assert_close(dc0, c0.grad[0])


@requires_tf
def test_keras_lstm_parity():
    import keras

    B, T, I, H = 4, 6, 5, 7
    layer = keras.layers.LSTM(H, return_sequences=True, return_state=True)
    x = randn((B, T, I), np.float32, seed=5)
    y, hn, cn = (np.asarray(v) for v in layer(x))
    kernel, rec, bias = (np.asarray(v) for v in layer.weights)  # [I,4H], [H,4H], [4H]; gates i, f, c, o
    oy, ohn, ocn, _ = K.lstm(x, np.ascontiguousarray(kernel.T), np.ascontiguousarray(rec.T), bias, batch_first=True)
    assert_close(oy, y, rtol=1e-4, atol=1e-5, what="y")
    assert_close(ohn, hn, rtol=1e-4, atol=1e-5, what="h_n")
    assert_close(ocn, cn, rtol=1e-4, atol=1e-5, what="c_n")


def test_bad_input():
    setup = ("x = np.ones((3, 2, 4)); wi = np.ones((8, 4)); wh = np.ones((8, 2)); b = np.ones(8); "
             "y, hn, cn, ws = K.lstm(x, wi, wh, b)")
    run_bad_calls([
        ("K.lstm(np.ones((3, 4)), wi, wh, b)", "ValueError", "lstm", "x"),
        ("K.lstm(x.astype(np.int32), wi, wh, b)", "TypeError", "lstm", "x"),
        ("K.lstm(np.ones((0, 2, 4)), wi, wh, b)", "ValueError", "lstm", "x"),
        ("K.lstm(x, np.ones((7, 4)), wh, b)", "ValueError", "lstm", "w_ih"),
        ("K.lstm(x, np.ones((8, 3)), wh, b)", "ValueError", "lstm", "w_ih"),
        ("K.lstm(x, wi.astype(np.float32), wh, b)", "TypeError", "lstm", "w_ih"),
        ("K.lstm(x, wi, np.ones((8, 3)), b)", "ValueError", "lstm", "w_hh"),
        ("K.lstm(x, wi, wh, np.ones(4))", "ValueError", "lstm", "bias"),
        ("K.lstm(x, wi, wh, b, np.ones((3, 2)))", "ValueError", "lstm", "h0"),
        ("K.lstm(x, wi, wh, b, np.ones((2, 2)), np.ones((2, 3)))", "ValueError", "lstm", "c0"),
        ("K.lstm(x, wi, wh, b, batch_first=True, h0=np.ones((2, 2)))", "ValueError", "lstm", "h0"),
        ("K.lstm(x, None, wh, b)", "TypeError", "lstm", "w_ih"),
        ("K.lstm_backward(y, None, None, x, wi, wh, None, None, ws[:, :, :6].copy())", "ValueError",
         "lstm_backward", "workspace"),
        ("K.lstm_backward(y[:2].copy(), None, None, x, wi, wh, None, None, ws)", "ValueError", "lstm_backward",
         "grad_y"),
        ("K.lstm_backward(None, np.ones((2, 3)), None, x, wi, wh, None, None, ws)", "ValueError", "lstm_backward",
         "grad_h_n"),
        ("K.lstm_backward(None, None, np.ones((2, 2), np.float32), x, wi, wh, None, None, ws)", "TypeError",
         "lstm_backward", "grad_c_n"),
    ], setup=setup)
