"""Fused binary cross-entropy from logits as a JAX op: one pass gives the loss and
d loss / d logits (torch's formula, stable for logits of +-1e4).

logits, targets: the same shape (any rank), float32/float64; pos_weight: [C] (C = the last
axis) or [1], or None; label_smoothing s in [0, 1] (Keras's: targets * (1 - s) + s / 2);
reduction "none" (loss like logits), "mean" (over every element) or "sum" (0-d).
The backward scales the saved dlogits by the upstream gradient (no second kernel). Targets
and pos_weight are constants: their gradient is zero by declaration (stop_gradient), as
for softmax_cross_entropy's labels. vmap: broadcast_all for reduction "none" without
pos_weight (elementwise), sequential otherwise (a batched call would reduce over the batch
too, or see a batched pos_weight).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple, has_pos_weight: bool):
    none = dict(attrs)["reduction"] == 0
    vmap = "broadcast_all" if none and not has_pos_weight else "sequential"

    def fwd_call(logits, targets, *pos_weight):
        return call("twincore_binary_cross_entropy_with_logits", [sds(o) for o in out],
                    (logits, targets, *pos_weight), attrs, vmap)

    @jax.custom_vjp
    def f(logits, targets, *pos_weight):
        return fwd_call(logits, targets, *pos_weight)[0]

    def f_fwd(logits, targets, *pos_weight):
        loss, dlogits = fwd_call(logits, targets, *pos_weight)
        return loss, dlogits

    def f_bwd(dlogits, g):
        return (dlogits * g, None) + ((None,) if has_pos_weight else ())  # g: like loss ("none") or 0-d

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def binary_cross_entropy_with_logits(logits, targets, pos_weight=None, label_smoothing: float = 0.0,
                                     reduction: str = "mean"):
    """Binary cross-entropy of sigmoid(logits) against targets (a JAX array; differentiable in logits)."""
    logits = jnp.asarray(logits)
    targets = jax.lax.stop_gradient(jnp.asarray(targets))
    pw = None if pos_weight is None else jax.lax.stop_gradient(jnp.asarray(pos_weight))
    ps, pd = spec(pw) if pw is not None else (None, None)
    plan = _core.jax_binary_cross_entropy_with_logits_plan(*spec(logits), *spec(targets), ps, pd, label_smoothing,
                                                           reduction)
    f = _fn(attrs_key(plan), outs(plan), pw is not None)
    return f(logits, targets) if pw is None else f(logits, targets, pw)
