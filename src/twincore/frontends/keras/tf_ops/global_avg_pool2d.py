"""global_avg_pool2d as a TF op over the core: [N,H,W,C] (NHWC) / [N,C,H,W] -> [N,C]."""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def global_avg_pool2d(x, layout: str = "NHWC") -> tf.Tensor:
    """Mean over the spatial axes on the core: [N,H,W,C] (NHWC) / [N,C,H,W] -> [N,C]."""
    x = tensor(x, "global_avg_pool2d", "x", rank=4)
    c = x.shape[3] if layout == "NHWC" else x.shape[1]
    shape = tf.TensorShape([x.shape[0], c])

    @tf.custom_gradient
    def f(x):
        y = call(lambda x: K.global_avg_pool2d(x, layout=layout), [x], [(x.dtype, shape)])

        def grad(dy):
            return call(lambda dy, x: K.global_avg_pool2d_backward(dy, tuple(x.shape), layout=layout),
                        [dy, x], [(x.dtype, x.shape)])

        return y, grad

    return f(x)
