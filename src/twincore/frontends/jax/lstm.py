"""lstm as a JAX op: one single-layer, unidirectional LSTM over a whole sequence, one XLA FFI
call each way (cpu/lstm.h's fused kernels).

Layout (the kernel's; Keras's [I, 4H] / [H, 4H] kernels are these transposed):
  x      [T, B, I] (time major) or [B, T, I] (batch_first)
  w_ih   [4H, I], w_hh [4H, H]   rows in gate order i, f, g, o (g = Keras's "c")
  bias   [4H] or None (torch's bias_ih + bias_hh summed; Keras's one bias)
  h0, c0 [B, H] or None (zeros)
Returns (y [T, B, H] / [B, T, H] or None without return_sequences, h_n [B, H], c_n [B, H]),
each differentiable in x, w_ih, w_hh, bias, h0 and c0. The forward also fills the kernel's
workspace (gates, c_t, h_{t-1} per step), the custom_vjp residual the backward reads.
vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple):
    a = dict(attrs)
    seq, has_bias, has_h0, has_c0 = (bool(a[k]) for k in ("return_sequences", "has_bias", "has_h0", "has_c0"))

    def fwd_call(x, w_ih, w_hh, bias, h0, c0):
        extra = tuple(t for t, has in ((bias, has_bias), (h0, has_h0), (c0, has_c0)) if has)
        res = call("twincore_lstm", [sds(o) for o in out], (x, w_ih, w_hh) + extra, attrs)
        return (res[0] if seq else None), res[-3], res[-2], res[-1]  # y, h_n, c_n, ws

    @jax.custom_vjp
    def f(x, w_ih, w_hh, bias, h0, c0):
        y, hn, cn, _ = fwd_call(x, w_ih, w_hh, bias, h0, c0)
        return y, hn, cn

    def f_fwd(x, w_ih, w_hh, bias, h0, c0):
        y, hn, cn, ws = fwd_call(x, w_ih, w_hh, bias, h0, c0)
        return (y, hn, cn), (x, w_ih, w_hh, bias, h0, c0, ws)

    def f_bwd(res, grads):
        x, w_ih, w_hh, bias, h0, c0, ws = res
        dy, dhn, dcn = grads
        extra = ((dy,) if seq else ()) + tuple(t for t, has in ((h0, has_h0), (c0, has_c0)) if has)
        results = [like(x), like(w_ih), like(w_hh)] + [like(t) for t, has in
                                                       ((bias, has_bias), (h0, has_h0), (c0, has_c0)) if has]
        d = list(call("twincore_lstm_backward", results, (x, w_ih, w_hh, ws, dhn, dcn) + extra, attrs))
        dx, dwih, dwhh = d[:3]
        rest = iter(d[3:])
        return (dx, dwih, dwhh, next(rest) if has_bias else None, next(rest) if has_h0 else None,
                next(rest) if has_c0 else None)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def lstm(x, w_ih, w_hh, bias=None, h0=None, c0=None, batch_first: bool = False, return_sequences: bool = True):
    """(y or None, h_n, c_n) of one LSTM layer over x (JAX arrays; see the module's layout)."""
    x, w_ih, w_hh = jnp.asarray(x), jnp.asarray(w_ih), jnp.asarray(w_hh)
    bias, h0, c0 = (None if t is None else jnp.asarray(t) for t in (bias, h0, c0))
    specs = [s for t in (bias, h0, c0) for s in (spec(t) if t is not None else (None, None))]
    plan = _core.jax_lstm_plan(*spec(x), *spec(w_ih), *spec(w_hh), *specs, bool(batch_first), bool(return_sequences))
    return _fn(attrs_key(plan), outs(plan))(x, w_ih, w_hh, bias, h0, c0)
