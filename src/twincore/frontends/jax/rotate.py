"""rotate (rotation about the centre + translation, an affine warp) as a JAX op.

images [N,C,H,W] (NCHW) or [N,H,W,C] (NHWC); angle: a number or 0-d (shared) or [N],
degrees counter-clockwise; translate (dx, dy): [2] (shared) or [N,2], pixels.
interpolation "bilinear" | "nearest"; fill "zeros" | "constant" (fill_value) | "nearest"
| "reflect". Differentiable in images, angle and translate (the kernel's backward gives
all three). Non-finite angles or shifts are found when the kernel runs (an XLA runtime
error naming twincore.rotate and the argument). vmap: sequential.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from twincore import _core
from twincore.frontends.jax._ffi import attrs_key, call, like, outs, sds, spec


@functools.lru_cache(maxsize=None)
def _fn(attrs: tuple, out: tuple):
    @jax.custom_vjp
    def f(images, angle, translate):
        return call("twincore_rotate", sds(out[0]), (images, angle, translate), attrs)

    def f_fwd(images, angle, translate):
        return f(images, angle, translate), (images, angle, translate)

    def f_bwd(res, g):
        images, angle, translate = res
        return tuple(call("twincore_rotate_backward", [like(images), like(angle), like(translate)],
                          (g, images, angle, translate), attrs))

    f.defvjp(f_fwd, f_bwd)
    return jax.jit(f)  # eagerly: one cached dispatch (a bare custom_vjp call re-traces every time)


def rotate(images, angle, translate=(0.0, 0.0), interpolation: str = "bilinear", fill: str = "zeros",
           fill_value: float = 0.0, layout: str = "NCHW"):
    """The warped images, images' shape (a JAX array)."""
    images = jnp.asarray(images)
    # Numbers and lists take the images' dtype; arrays keep theirs (the core checks them).
    angle = angle if isinstance(angle, jax.Array) else jnp.asarray(angle, images.dtype)
    translate = translate if isinstance(translate, jax.Array) else jnp.asarray(translate, images.dtype)
    plan = _core.jax_rotate_plan(*spec(images), *spec(angle), *spec(translate), str(interpolation), str(fill),
                                 float(fill_value), layout)
    return _fn(attrs_key(plan), outs(plan))(images, angle, translate)
