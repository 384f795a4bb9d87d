"""matmul / dense as a JAX op: c = act(op(a) @ op(b) + bias), one XLA FFI call each way.

Shapes (row-major; op(x) is x or its transpose of the last two axes by flag):
  a: [M,K] or [B,M,K] ([K,M] / [B,K,M] with trans_a)
  b: [K,N] or [B,K,N] ([N,K] / [B,N,K] with trans_b); a 2-D b is shared by every batch
  bias: [N];  c: [M,N] or [B,M,N]
activation: None, "relu" or "tanh", applied in the same crossing (its backward reads c).
vmap: sequential (a batch of calls; the kernel's own batch axis is its leading dim).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple, has_bias: bool):
    act = dict(attrs)["act"] != 0

    def fwd_call(a, b, *bias):
        return call("twincore_matmul", sds(out[0]), (a, b, *bias), attrs)

    @jax.custom_vjp
    def f(a, b, *bias):
        return fwd_call(a, b, *bias)

    def f_fwd(a, b, *bias):
        c = fwd_call(a, b, *bias)
        return c, (a, b, c if act else None, bias[0] if has_bias else None)

    def f_bwd(res, g):
        a, b, c, bias = res
        results = [like(a), like(b)] + ([like(bias)] if has_bias else [])
        grads = call("twincore_matmul_backward", results, (g, a, b) + ((c,) if act else ()), attrs)
        return tuple(grads)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def matmul(a, b, bias=None, trans_a: bool = False, trans_b: bool = False, activation: str | None = None):
    """c = act(op(a) @ op(b) + bias) (a JAX array; differentiable in a, b and bias)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    bias = None if bias is None else jnp.asarray(bias)
    bs, bd = spec(bias) if bias is not None else (None, None)
    plan = _core.jax_matmul_plan(*spec(a), *spec(b), bs, bd, bool(trans_a), bool(trans_b), activation)
    f = _fn(attrs_key(plan), outs(plan), bias is not None)
    return f(a, b) if bias is None else f(a, b, bias)


def dense(x, kernel, bias=None, activation: str | None = None):
    """activation(x [N,in] @ kernel [in,out] + bias [out]) (Keras's Dense layout)."""
    return matmul(x, kernel, bias, activation=activation)
