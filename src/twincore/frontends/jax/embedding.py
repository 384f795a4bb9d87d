"""embedding as a JAX op: a row gather and its deterministic scatter-add.

  ids    int32/int64, any shape S, each in [0, V)
  weight [V, D] float32/float64
  out    S + (D,): out[..., :] = weight[ids[...], :]
padding_idx: None, or a row (negative counts from the end) whose gradient stays zero
(torch's rule). The backward sums the gradient rows of equal ids in a fixed order (the
same bits every run). ids are integers: no gradient. Ids outside [0, V) are found by the
kernel when it runs (an XLA runtime error naming twincore.embedding and 'ids').
vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple, w_spec: tuple):
    @jax.custom_vjp
    def f(ids, weight):
        return call("twincore_embedding", sds(out[0]), (ids, weight), attrs)

    def f_fwd(ids, weight):
        return f(ids, weight), ids

    def f_bwd(ids, g):
        return None, call("twincore_embedding_backward", sds(w_spec), (g, ids), attrs)

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def embedding(ids, weight, padding_idx: int | None = None):
    """weight's rows at ids: S + (D,) (a JAX array; differentiable in weight)."""
    ids, weight = jnp.asarray(ids), jnp.asarray(weight)
    plan = _core.jax_embedding_plan(*spec(ids), *spec(weight), padding_idx)
    return _fn(attrs_key(plan), outs(plan), spec(weight))(ids, weight)
