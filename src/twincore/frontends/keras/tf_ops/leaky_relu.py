"""leaky_relu as a TF op with tf.custom_gradient over the core; any shape. The backward
reads the input x (the sign of y is ambiguous for a negative slope)."""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def leaky_relu(x, negative_slope: float = 0.3) -> tf.Tensor:
    """y = x where x > 0, else negative_slope * x (Keras's default slope 0.3)."""
    x = tensor(x, "leaky_relu", "x")
    spec = [(x.dtype, x.shape)]
    s = float(negative_slope)

    @tf.custom_gradient
    def f(x):
        y = call(lambda x: K.leaky_relu(x, s), [x], spec)
        return y, lambda dy: call(lambda dy, x: K.leaky_relu_backward(dy, x, s), [dy, x], spec)

    return f(x)
