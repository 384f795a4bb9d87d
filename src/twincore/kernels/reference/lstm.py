"""Plain NumPy float64 LSTM in the kernel's layout (gates i, f, g, o; w_ih [4H, I],
w_hh [4H, H], one bias [4H]), forward and backward through time, step by step."""

import numpy as np


def _sig(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def lstm(x, w_ih, w_hh, bias=None, h0=None, c0=None, batch_first=False):
    """Return (y [T, B, H] or [B, T, H], h_n, c_n, cache)."""
    x = np.asarray(x, np.float64)
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, B, _ = x.shape
    w_ih, w_hh = np.asarray(w_ih, np.float64), np.asarray(w_hh, np.float64)
    H = w_hh.shape[1]
    b = np.zeros(4 * H) if bias is None else np.asarray(bias, np.float64)
    h = np.zeros((B, H)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((B, H)) if c0 is None else np.asarray(c0, np.float64)
    ys, cache = [], []
    for t in range(T):
        z = x[t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = _sig(z[:, :H]), _sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sig(z[:, 3 * H:])
        c_prev, h_prev = c, h
        c = f * c + i * g
        h = o * np.tanh(c)
        cache.append((i, f, g, o, c, c_prev, h_prev))
        ys.append(h)
    y = np.stack(ys)
    return (y.transpose(1, 0, 2) if batch_first else y), h, c, (x, w_ih, w_hh, cache, batch_first)


def lstm_backward(grad_y, grad_h_n, grad_c_n, cache):
    """Return (dx, dw_ih, dw_hh, dbias, dh0, dc0) from lstm's cache."""
    x, w_ih, w_hh, steps, batch_first = cache
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dy = None if grad_y is None else np.asarray(grad_y, np.float64)
    if dy is not None and batch_first:
        dy = dy.transpose(1, 0, 2)
    dh = np.zeros((B, H)) if grad_h_n is None else np.asarray(grad_h_n, np.float64).copy()
    dc = np.zeros((B, H)) if grad_c_n is None else np.asarray(grad_c_n, np.float64).copy()
    dx = np.zeros_like(x)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(4 * H)
    for t in reversed(range(T)):
        i, f, g, o, c, c_prev, h_prev = steps[t]
        if dy is not None:
            dh = dh + dy[t]
        tc = np.tanh(c)
        dc = dc + dh * o * (1 - tc ** 2)
        dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                             dh * tc * o * (1 - o)], axis=1)
        dx[t] = dz @ w_ih
        dw_ih += dz.T @ x[t]
        dw_hh += dz.T @ h_prev
        db += dz.sum(0)
        dh = dz @ w_hh
        dc = dc * f
    return (dx.transpose(1, 0, 2) if batch_first else dx), dw_ih, dw_hh, db, dh, dc
