"""twincore.jax.lstm: parity with the NumPy float64 reference and a jax.lax.scan LSTM (outputs
and the gradients of every argument), time major and batch first, with and without
return_sequences / bias / initial states, float64 gradients, jit == eager, bad input named."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import lstm as R

from jax_testutil import grads, jit_equal, raises, rand

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _scan(x, w_ih, w_hh, bias, h0, c0, batch_first):
    """One LSTM layer written with jax.lax.scan (gates i, f, g, o)."""
    xs = jnp.swapaxes(x, 0, 1) if batch_first else x
    B, H = xs.shape[1], w_hh.shape[1]
    h0 = jnp.zeros((B, H), x.dtype) if h0 is None else h0
    c0 = jnp.zeros((B, H), x.dtype) if c0 is None else c0
    b = 0.0 if bias is None else bias

    def step(carry, xt):
        h, c = carry
        z = xt @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = (jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H:2 * H]), jnp.tanh(z[:, 2 * H:3 * H]),
                      jax.nn.sigmoid(z[:, 3 * H:]))
        c = f * c + i * g
        h = o * jnp.tanh(c)
        return (h, c), h

    (h, c), ys = jax.lax.scan(step, (h0, c0), xs)
    return (jnp.swapaxes(ys, 0, 1) if batch_first else ys), h, c


CASES = [  # (T, B, I, H, batch_first, with bias, with states)
    (5, 3, 4, 6, False, True, True),
    (4, 2, 3, 5, True, True, False),
    (6, 1, 2, 3, True, False, True),
]


@pytest.mark.parametrize("case", CASES)
def test_parity_with_reference_and_scan(case, dtype):
    T, B, I, H, bf, has_b, has_s = case
    rng = np.random.default_rng(41)
    x = rand(rng, (B, T, I) if bf else (T, B, I), dtype)
    w_ih, w_hh = rand(rng, (4 * H, I), dtype) * 0.5, rand(rng, (4 * H, H), dtype) * 0.5
    bias = rand(rng, (4 * H,), dtype) if has_b else None
    h0, c0 = (rand(rng, (B, H), dtype), rand(rng, (B, H), dtype)) if has_s else (None, None)

    def f(x, w_ih, w_hh, bias, h0, c0):
        return tj.lstm(x, w_ih, w_hh, bias, h0, c0, batch_first=bf)

    args = (x, w_ih, w_hh, bias, h0, c0)
    y, hn, cn = jit_equal(f, *args)
    assert y.dtype == dtype and y.shape == x.shape[:2] + (H,)
    ry, rh, rc, cache = R.lstm(x, w_ih, w_hh, bias, h0, c0, batch_first=bf)
    sy, sh, sc = _scan(*args, bf)
    for ours, ref, scan in ((y, ry, sy), (hn, rh, sh), (cn, rc, sc)):
        np.testing.assert_allclose(ours, ref, **TOL[dtype])
        np.testing.assert_allclose(ours, scan, **TOL[dtype])

    gy, gh, gc = rand(rng, y.shape, dtype), rand(rng, hn.shape, dtype), rand(rng, cn.shape, dtype)
    ours = jax.vjp(f, *args)[1]((gy, gh, gc))
    theirs = jax.vjp(lambda *a: _scan(*a, bf), *args)[1]((gy, gh, gc))
    ref = R.lstm_backward(gy, gh, gc, cache)
    for k, (a, t) in enumerate(zip(ours, theirs)):
        if args[k] is None:
            assert a is None
            continue
        np.testing.assert_allclose(a, t, **TOL[dtype], err_msg=f"argument {k}")
        np.testing.assert_allclose(a, ref[k], **TOL[dtype], err_msg=f"argument {k}")


def test_last_state_only_and_gradients_float64():
    rng = np.random.default_rng(42)
    T, B, I, H = 4, 2, 3, 3
    x, w_ih, w_hh = rand(rng, (B, T, I)), rand(rng, (4 * H, I)) * 0.5, rand(rng, (4 * H, H)) * 0.5
    b, h0, c0 = rand(rng, (4 * H,)), rand(rng, (B, H)), rand(rng, (B, H))
    y, hn, cn = tj.lstm(x, w_ih, w_hh, b, batch_first=True, return_sequences=False)
    assert y is None
    np.testing.assert_allclose(hn, R.lstm(x, w_ih, w_hh, b, batch_first=True)[1], rtol=1e-12)
    grads(lambda *a: tj.lstm(*a, batch_first=True), (x, w_ih, w_hh, b, h0, c0))
    grads(lambda x, w_ih, w_hh: tj.lstm(x, w_ih, w_hh, return_sequences=False)[1:], (x, w_ih, w_hh))


def test_grad_under_jit_and_vmap():
    rng = np.random.default_rng(43)
    x = rand(rng, (3, 5, 2, 4), np.float32)  # a vmapped axis in front of [T, B, I]
    w_ih, w_hh = rand(rng, (8, 4), np.float32), rand(rng, (8, 2), np.float32)

    def loss(w_ih, x):
        return (tj.lstm(x, w_ih, w_hh)[0] ** 2).sum()

    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(w_ih, x[0]), jax.grad(loss)(w_ih, x[0]))
    ys = jax.vmap(lambda x: tj.lstm(x, w_ih, w_hh)[0])(x)  # sequential: one call per entry
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.lstm(x[i], w_ih, w_hh)[0])


def test_bad_input_names_op_and_argument():
    x, w_ih, w_hh = np.ones((4, 2, 3), np.float32), np.ones((8, 3), np.float32), np.ones((8, 2), np.float32)
    with raises(ValueError, "lstm", "x"):
        tj.lstm(x[0], w_ih, w_hh)
    with raises(ValueError, "lstm", "w_ih"):
        tj.lstm(x, np.ones((7, 3), np.float32), w_hh)
    with raises(ValueError, "lstm", "w_hh"):
        tj.lstm(x, w_ih, np.ones((8, 3), np.float32))
    with raises(ValueError, "lstm", "bias"):
        tj.lstm(x, w_ih, w_hh, np.ones(4, np.float32))
    with raises(ValueError, "lstm", "h0"):
        tj.lstm(x, w_ih, w_hh, h0=np.ones((3, 2), np.float32))
    with raises(TypeError, "lstm", "w_hh"):
        tj.lstm(x, w_ih, w_hh.astype(np.float64))
