"""Mean squared error as a JAX op. pred, target: same shape (any rank).

reduction "none" (loss like pred), "mean" or "sum" (0-d loss). Differentiable in pred and
target (d target = -d pred). vmap: broadcast_all for "none" (elementwise), sequential for
"mean"/"sum" (a batched call would reduce over the batch too).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple):
    vmap = "broadcast_all" if dict(attrs)["reduction"] == 0 else "sequential"

    @jax.custom_vjp
    def f(pred, target):
        return call("twincore_mse", sds(out[0]), (pred, target), attrs, vmap)

    def f_fwd(pred, target):
        return f(pred, target), (pred, target)

    def f_bwd(res, g):
        pred, target = res
        d = call("twincore_mse_backward", like(pred), (pred, target, g), attrs, vmap)
        return d, -d

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def mse(pred, target, reduction: str = "mean"):
    """(pred - target)^2, reduced (a JAX array)."""
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    plan = _core.jax_mse_plan(*spec(pred), *spec(target), reduction)
    return _fn(attrs_key(plan), outs(plan))(pred, target)
