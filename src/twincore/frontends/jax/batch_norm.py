"""batch_norm as JAX ops: training (batch statistics), inference (given statistics) and the
running-statistics update -- the core's four kernels, as the torch and TF frontends use them.

  x: [N, C], or images [N, C, H, W] (layout "NCHW") / [N, H, W, C] ("NHWC"); gamma, beta [C] or None.
batch_norm(x, gamma, beta, eps, layout) -> (y, mean, var): the batch mean and biased variance
  [C] come back for the running averages and carry no gradient (stop_gradient: torch marks them
  non-differentiable); y is differentiable in x, gamma and beta (one backward kernel).
batch_norm_inference(x, gamma, beta, running_mean, running_var, eps, layout) -> y: the affine map
  y = (x - mean) * gamma / sqrt(var + eps) + beta. Its gradient (a model evaluated with
  training=False may still be differentiated): dx by the same kernel (mean 0, no beta), and
  d gamma, d beta, d mean, d var as per-channel sums over that map.
batch_norm_update_stats(running_mean, running_var, mean, var, momentum, count, unbiased)
  -> (new_mean, new_var): running = (1 - momentum) * running + momentum * batch (torch's
  convention: Keras's momentum 0.99 is 0.01 here); the variance unbiased (count / (count - 1),
  torch) or biased (Keras). No gradient (statistics, not parameters).
vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec


def _specs(*arrays):
    return [s for t in arrays for s in (spec(t) if t is not None else (None, None))]


@functools.lru_cache(maxsize=None)
def _train(attrs: tuple, out: tuple):
    a = dict(attrs)
    has_g, has_b = bool(a["has_gamma"]), bool(a["has_beta"])

    def fwd_call(x, gamma, beta):
        params = tuple(t for t, has in ((gamma, has_g), (beta, has_b)) if has)
        return call("twincore_batch_norm", [sds(o) for o in out], (x,) + params, attrs)

    @jax.custom_vjp
    def f(x, gamma, beta):
        return tuple(fwd_call(x, gamma, beta))

    def f_fwd(x, gamma, beta):
        y, mean, var = fwd_call(x, gamma, beta)
        return (y, mean, var), (x, gamma, mean, var)

    def f_bwd(res, grads):
        x, gamma, mean, var = res
        dy = grads[0]  # mean and var carry no gradient (stop_gradient below)
        results = [like(x)] + ([like(mean)] if has_g else []) + ([like(mean)] if has_b else [])
        d = iter(call("twincore_batch_norm_backward", results, (dy, x, mean, var) + ((gamma,) if has_g else ()),
                      attrs))
        dx = next(d)
        return dx, next(d) if has_g else None, next(d) if has_b else None

    f.defvjp(f_fwd, f_bwd)

    def g(x, gamma, beta):
        y, mean, var = f(x, gamma, beta)
        return y, jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)

    return jax.jit(g)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def batch_norm(x, gamma=None, beta=None, eps: float = 1e-5, layout: str = "NCHW"):
    """(y like x, batch mean [C], biased batch var [C]) in training mode."""
    x = jnp.asarray(x)
    gamma, beta = (None if t is None else jnp.asarray(t) for t in (gamma, beta))
    plan = _core.jax_batch_norm_plan(*spec(x), *_specs(gamma, beta), eps, layout)
    return _train(attrs_key(plan), outs(plan))(x, gamma, beta)


@functools.lru_cache(maxsize=None)
def _inference(attrs: tuple, out: tuple):
    a = dict(attrs)
    has_g, has_b = bool(a["has_gamma"]), bool(a["has_beta"])
    nhwc, eps = bool(a["nhwc"]), a["eps"]
    # dx: the kernel on dy with mean 0 and no beta (dy * gamma / sqrt(var + eps)).
    dx_attrs = tuple((k, 0 if k == "has_beta" else v) for k, v in attrs)

    def fwd_call(x, gamma, beta, mean, var, attrs=attrs, has_b=has_b):
        params = tuple(t for t, has in ((gamma, has_g), (beta, has_b)) if has)
        return call("twincore_batch_norm_inference", sds(out[0]), (x, mean, var) + params, attrs)

    @jax.custom_vjp
    def f(x, gamma, beta, mean, var):
        return fwd_call(x, gamma, beta, mean, var)

    def f_fwd(x, gamma, beta, mean, var):
        return f(x, gamma, beta, mean, var), (x, gamma, beta, mean, var)

    def f_bwd(res, dy):
        x, gamma, beta, mean, var = res
        dx = fwd_call(dy, gamma, None, jnp.zeros_like(mean), var, dx_attrs, False)
        c = 1 if x.ndim == 2 or not nhwc else 3  # the channel axis
        axes = tuple(i for i in range(x.ndim) if i != c)
        dbeta = jnp.sum(dy, axis=axes)
        invstd = jax.lax.rsqrt(var + eps)
        bshape = [1] * x.ndim
        bshape[c] = -1
        xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
        dgamma = jnp.sum(dy * xhat, axis=axes)
        g_ = gamma if has_g else 1.0
        dmean = -dbeta * g_ * invstd
        dvar = -0.5 * dgamma * g_ / (var + eps)  # d xhat / d var = -xhat / (2 (var + eps))
        return dx, dgamma if has_g else None, dbeta if has_b else None, dmean, dvar

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps: float = 1e-5, layout: str = "NCHW"):
    """(x - running_mean) / sqrt(running_var + eps) * gamma + beta, per channel (like x)."""
    x, mean, var = jnp.asarray(x), jnp.asarray(running_mean), jnp.asarray(running_var)
    gamma, beta = (None if t is None else jnp.asarray(t) for t in (gamma, beta))
    plan = _core.jax_batch_norm_inference_plan(*spec(x), *_specs(gamma, beta), *spec(mean), *spec(var), eps, layout)
    return _inference(attrs_key(plan), outs(plan))(x, gamma, beta, mean, var)


@functools.lru_cache(maxsize=None)
def _update(attrs: tuple, out: tuple):
    def f(rm, rv, mean, var):
        return tuple(call("twincore_batch_norm_update_stats", [sds(o) for o in out], (rm, rv, mean, var), attrs))

    return jax.jit(f)


def batch_norm_update_stats(running_mean, running_var, mean, var, momentum: float, count: int,
                            unbiased: bool = True):
    """(new running mean, new running var) [C] after one batch of `count` values per channel."""
    rm, rv, mean, var = (jax.lax.stop_gradient(jnp.asarray(t)) for t in (running_mean, running_var, mean, var))
    plan = _core.jax_batch_norm_update_stats_plan(*spec(rm), *spec(rv), *spec(mean), *spec(var), momentum,
                                                  int(count), bool(unbiased))
    return _update(attrs_key(plan), outs(plan))(rm, rv, mean, var)
