"""max_pool2d as a JAX op (NCHW or NHWC natively).

  x [N,C,H,W] / [N,H,W,C] -> y [N,C,OH,OW] / [N,OH,OW,C]
kernel_size, stride (None = kernel_size): int or (h, w); padding: int, (h, w), "same"
or "valid". The forward also returns the argmax of each window (the core's int64 flat
indices, carried as int32 pairs since JAX without x64 has no int64), which the backward
scatters through. vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple, x_spec: tuple):
    bwd_attrs = tuple((k, v) for k, v in attrs if k == "nhwc")

    def fwd_call(x):
        return call("twincore_max_pool2d", [sds(o) for o in out], (x,), attrs)

    @jax.custom_vjp
    def f(x):
        return fwd_call(x)[0]

    def f_fwd(x):
        y, idx = fwd_call(x)
        return y, idx

    def f_bwd(idx, g):
        return (call("twincore_max_pool2d_backward", sds(x_spec), (g, idx), bwd_attrs),)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def max_pool2d(x, kernel_size=2, stride=None, padding=0, layout: str = "NCHW"):
    """Max over each window (a JAX array; differentiable in x)."""
    x = jnp.asarray(x)
    plan = _core.jax_max_pool2d_plan(*spec(x), kernel_size, stride, padding, layout)
    return _fn(attrs_key(plan), outs(plan), spec(x))(x)
