"""relu, tanh, softmax as TF ops with tf.custom_gradient over the core.

Shapes: any (softmax over the last axis); y has x's shape and dtype.
The backward reads the forward's output y, which these gradients need.
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def _unary(name: str, fwd, bwd):
    def op(x):
        x = tensor(x, name, "x")
        spec = [(x.dtype, x.shape)]

        @tf.custom_gradient
        def f(x):
            y = call(fwd, [x], spec)
            return y, lambda dy: call(bwd, [dy, y], spec)

        return f(x)

    op.__name__ = name
    return op


relu = _unary("relu", lambda x: K.relu(x), lambda dy, y: K.relu_backward(dy, y))
relu.__doc__ = "y = max(x, 0) elementwise (twincore core); any shape."
tanh = _unary("tanh", lambda x: K.tanh(x), lambda dy, y: K.tanh_backward(dy, y))
tanh.__doc__ = "y = tanh(x) elementwise (twincore core); any shape."
softmax = _unary("softmax", lambda x: K.softmax(x), lambda dy, y: K.softmax_backward(dy, y))
softmax.__doc__ = "y = softmax(x) over the last axis (twincore core); any rank >= 1."
sigmoid = _unary("sigmoid", lambda x: K.sigmoid(x), lambda dy, y: K.sigmoid_backward(dy, y))
sigmoid.__doc__ = "y = 1 / (1 + exp(-x)) elementwise (twincore core); any shape."
