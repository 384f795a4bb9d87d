"""leaky_relu as a JAX op: y = x if x > 0 else negative_slope * x, elementwise, any shape.

The backward kernel reads the input x (the sign of y alone is ambiguous for a negative slope).
negative_slope: a finite float (torch's default 0.01; Keras's LeakyReLU passes its own 0.3).
vmap: broadcast_all (elementwise: a batch axis in front is just more elements).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec

VMAP = "broadcast_all"


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple):
    @jax.custom_vjp
    def f(x):
        return call("twincore_leaky_relu", sds(out[0]), (x,), attrs, VMAP)

    def f_fwd(x):
        return f(x), x

    def f_bwd(x, g):
        return (call("twincore_leaky_relu_backward", like(x), (g, x), attrs, VMAP),)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def leaky_relu(x, negative_slope: float = 0.01):
    """x > 0 ? x : negative_slope * x (a JAX array like x; NaN stays NaN)."""
    x = jnp.asarray(x)
    plan = _core.jax_leaky_relu_plan(*spec(x), negative_slope)
    return _fn(attrs_key(plan), outs(plan))(x)
