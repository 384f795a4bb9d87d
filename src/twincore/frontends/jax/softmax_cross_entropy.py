"""Fused softmax cross-entropy as a JAX op: one pass gives the loss and d loss / d logits.

logits [N, C]; labels [N] int32/int64 class ids, or [N, C] probabilities of the logits'
dtype; label_smoothing in [0, 1]; reduction "none" ([N]), "mean" or "sum" (0-d).
The backward scales the saved dlogits by the upstream gradient (no second kernel).
Labels are constants: their gradient is zero by declaration (stop_gradient), as the torch
frontend refuses targets that require grad. Class ids outside [0, C) are found by the
kernel when it runs: an XLA runtime error naming twincore.softmax_cross_entropy and
'labels'. vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple):
    none = dict(attrs)["reduction"] == 0

    def fwd_call(logits, labels):
        return call("twincore_softmax_cross_entropy", [sds(o) for o in out], (logits, labels), attrs)

    @jax.custom_vjp
    def f(logits, labels):
        return fwd_call(logits, labels)[0]

    def f_fwd(logits, labels):
        loss, dlogits = fwd_call(logits, labels)
        return loss, dlogits

    def f_bwd(dlogits, g):
        return dlogits * (g[:, None] if none else g), None

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0, reduction: str = "mean"):
    """Cross-entropy of softmax(logits) against labels (a JAX array; differentiable in logits)."""
    logits, labels = jnp.asarray(logits), jax.lax.stop_gradient(jnp.asarray(labels))
    plan = _core.jax_softmax_cross_entropy_plan(*spec(logits), *spec(labels), float(label_smoothing), reduction)
    return _fn(attrs_key(plan), outs(plan))(logits, labels)
