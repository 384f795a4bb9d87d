"""max_pool2d as a TF op over the core.

max_pool2d(x, pool_size=2, strides=None, padding="valid", layout="NHWC"):
    x [N,H,W,C] (NHWC) or [N,C,H,W] (NCHW); strides None = pool_size; padding "valid",
    "same" (TF's rule) or int/pair. Returns y [N,Ho,Wo,C] / [N,C,Ho,Wo]; the backward
    routes each gradient to its window's argmax (indices kept from the forward).
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def max_pool2d(x, pool_size=2, strides=None, padding="valid", layout: str = "NHWC") -> tf.Tensor:
    """Max pooling on the core; see the module docstring for shapes."""
    x = tensor(x, "max_pool2d", "x", rank=4)
    if isinstance(padding, str):
        padding = padding.lower()
    strides = pool_size if strides is None else strides
    try:
        shape = tf.TensorShape(_shapes.core_shape(lambda a: K.max_pool2d(a, pool_size, strides, padding, layout),
                                                  x.shape.as_list()))
    except (ValueError, TypeError):
        shape = tf.TensorShape(None)  # let the core name the bad argument
    geo = dict(kernel_size=pool_size, stride=strides, padding=padding, layout=layout)

    def fwd(x):
        return K.max_pool2d(x, return_indices=True, **geo)

    @tf.custom_gradient
    def f(x):
        y, idx = call(fwd, [x], [(x.dtype, shape), (tf.int64, shape)])

        def grad(dy):
            return call(lambda dy, idx, x: K.max_pool2d_backward(dy, idx, tuple(x.shape), layout=layout),
                        [dy, idx, x], [(x.dtype, x.shape)])

        return y, grad

    return f(x)
