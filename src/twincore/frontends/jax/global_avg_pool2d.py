"""global_avg_pool2d as a JAX op: the mean over H and W of every (n, c) plane.

  x [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC) -> y [N,C]. vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple, x_spec: tuple):
    @jax.custom_vjp
    def f(x):
        return call("twincore_global_avg_pool2d", sds(out[0]), (x,), attrs)

    def f_fwd(x):
        return f(x), None

    def f_bwd(_, g):
        return (call("twincore_global_avg_pool2d_backward", sds(x_spec), (g,), attrs),)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def global_avg_pool2d(x, layout: str = "NCHW"):
    """[N, C] means (a JAX array; differentiable in x)."""
    x = jnp.asarray(x)
    plan = _core.jax_global_avg_pool2d_plan(*spec(x), layout)
    return _fn(attrs_key(plan), outs(plan), spec(x))(x)
