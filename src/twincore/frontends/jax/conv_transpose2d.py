"""conv_transpose2d as a JAX op (the adjoint of conv2d: torch's conv_transpose2d, Keras's
Conv2DTranspose), NCHW or NHWC natively, one XLA FFI call each way (dx, dw and dbias come
from one backward crossing).

  NCHW: x [N, Cin, H, W], w [Cin, Cout, KH, KW] (torch's layout), y [N, Cout, OH, OW]
  NHWC: x [N, H, W, Cin], w [KH, KW, Cout, Cin] (Keras's layout),  y [N, OH, OW, Cout]
bias [Cout] or None. stride / dilation: int or (h, w); padding: int, (h, w) (torch's rule),
"same" or "valid" (Keras's); output_padding: None (not given) or int / (h, w), each in
[0, max(stride, dilation)). The output size is the core's rule (cpu/conv_transpose2d.h).
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
    @jax.custom_vjp
    def f(x, w, *bias):
        return call("twincore_conv_transpose2d", sds(out[0]), (x, w, *bias), attrs)

    def f_fwd(x, w, *bias):
        return f(x, w, *bias), (x, w, bias[0] if has_bias else None)

    def f_bwd(res, g):
        x, w, bias = res
        results = [like(x), like(w)] + ([like(bias)] if has_bias else [])
        return tuple(call("twincore_conv_transpose2d_backward", results, (g, x, w), attrs))

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=None, dilation=1,
                     layout: str = "NCHW"):
    """conv_transpose2d(x, w) + bias (a JAX array; differentiable in x, w and bias)."""
    x, w = jnp.asarray(x), jnp.asarray(w)
    bias = None if bias is None else jnp.asarray(bias)
    bs, bd = spec(bias) if bias is not None else (None, None)
    plan = _core.jax_conv_transpose2d_plan(*spec(x), *spec(w), bs, bd, stride, padding, output_padding, dilation,
                                           layout)
    f = _fn(attrs_key(plan), outs(plan), bias is not None)
    return f(x, w) if bias is None else f(x, w, bias)
