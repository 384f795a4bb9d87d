"""rotate (affine warp: rotation about the centre + translation) as a TF op over the core.

rotate(images, angle, translate=(0, 0), interpolation="bilinear", fill="zeros",
       fill_value=0.0, layout="NHWC", param_grads=False):
    images [N,H,W,C] (NHWC) or [N,C,H,W]; angle in degrees counter-clockwise, a number,
    a 0-d tensor or [N]; translate (dx, dy) pixels, a pair or [N,2]. Returns images'
    shape. The gradient always flows to images; to angle and translate only with
    param_grads=True (otherwise they get None, which saves the kernel that work).
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def rotate(images, angle, translate=(0.0, 0.0), interpolation: str = "bilinear", fill: str = "zeros",
           fill_value: float = 0.0, layout: str = "NHWC", param_grads: bool = False) -> tf.Tensor:
    """Rotate and translate each image on the core; see the module docstring."""
    op = "rotate"
    x = tensor(images, op, "images", rank=4)
    angle = tf.cast(tensor(angle, op, "angle", dtypes=None, rank=(0, 1)), x.dtype)
    translate = tf.cast(tensor(translate, op, "translate", dtypes=None, rank=(1, 2)), x.dtype)
    opts = dict(interpolation=interpolation, fill=fill, fill_value=float(fill_value), layout=layout)

    @tf.custom_gradient
    def f(x, angle, translate):
        y = call(lambda x, a, t: K.rotate(x, a, t, **opts), [x, angle, translate], [(x.dtype, x.shape)])

        def grad(dy):
            def bwd(dy, x, a, t):
                dx, da, dt = K.rotate_backward(dy, x, a, t, need_images=True, need_angle=param_grads,
                                               need_translate=param_grads, **opts)
                return (dx, da, dt) if param_grads else dx

            if not param_grads:
                return call(bwd, [dy, x, angle, translate], [(x.dtype, x.shape)]), None, None
            return call(bwd, [dy, x, angle, translate],
                        [(x.dtype, x.shape), (x.dtype, angle.shape), (x.dtype, translate.shape)])

        return y, grad

    return f(x, angle, translate)
