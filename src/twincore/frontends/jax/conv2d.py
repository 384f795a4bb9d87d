"""conv2d as a JAX op: y = act(conv(x, w) + bias), NCHW or NHWC natively, one XLA FFI
call each way (dx, dw and dbias come from one backward crossing).

  NCHW: x [N,C,H,W], w [O,C,KH,KW] (OIHW), y [N,O,OH,OW]
  NHWC: x [N,H,W,C], w [KH,KW,C,O] (HWIO), y [N,OH,OW,O]
stride / dilation: int or (h, w); padding: int, (h, w), "same" (TensorFlow's rule) or
"valid"; activation: None, "relu" or "tanh" (fused in the kernels).
vmap: sequential.
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

    def fwd_call(x, w, *bias):
        return call("twincore_conv2d", sds(out[0]), (x, w, *bias), attrs)

    @jax.custom_vjp
    def f(x, w, *bias):
        return fwd_call(x, w, *bias)

    def f_fwd(x, w, *bias):
        y = fwd_call(x, w, *bias)
        return y, (x, w, y if act else None, bias[0] if has_bias else None)

    def f_bwd(res, g):
        x, w, y, bias = res
        results = [like(x), like(w)] + ([like(bias)] if has_bias else [])
        return tuple(call("twincore_conv2d_backward", results, (g, x, w) + ((y,) if act else ()), attrs))

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, layout: str = "NCHW",
           activation: str | None = None):
    """act(conv2d(x, w) + bias) (a JAX array; differentiable in x, w and bias)."""
    x, w = jnp.asarray(x), jnp.asarray(w)
    bias = None if bias is None else jnp.asarray(bias)
    bs, bd = spec(bias) if bias is not None else (None, None)
    plan = _core.jax_conv2d_plan(*spec(x), *spec(w), bs, bd, stride, padding, dilation, layout, activation)
    f = _fn(attrs_key(plan), outs(plan), bias is not None)
    return f(x, w) if bias is None else f(x, w, bias)
