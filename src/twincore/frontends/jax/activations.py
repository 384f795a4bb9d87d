"""relu, tanh, sigmoid and softmax (over the last axis) as JAX ops; any shape.

The backward kernels read the forward's output y. vmap: broadcast_all (relu, tanh and
sigmoid are elementwise and softmax works per last-axis row, so a batch axis in front is just more
rows: one call for the whole batch).
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
        return call("twincore_activation", sds(out[0]), (x,), attrs, VMAP)

    def f_fwd(x):
        y = f(x)
        return y, y

    def f_bwd(y, g):
        return (call("twincore_activation_backward", like(y), (g, y), attrs, VMAP),)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def _apply(name: str, x):
    x = jnp.asarray(x)
    plan = _core.jax_activation_plan(name, *spec(x))
    return _fn(attrs_key(plan), outs(plan))(x)


def relu(x):
    """max(x, 0), elementwise (NaN stays NaN)."""
    return _apply("relu", x)


def tanh(x):
    """tanh(x), elementwise."""
    return _apply("tanh", x)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise."""
    return _apply("sigmoid", x)


def softmax(x):
    """exp(x - max) / sum over the last axis."""
    return _apply("softmax", x)
