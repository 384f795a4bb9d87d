"""conv2d (+ bias, + fused relu/tanh) as a TF op over the core.

conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, activation=None,
       layout="NHWC"):
    NHWC (TF's): x [N,H,W,C], kernel [KH,KW,C,O] (HWIO); NCHW: x [N,C,H,W], kernel
    [O,C,KH,KW]. strides/dilation int or pair; padding "valid", "same" (TF's rule) or an
    int/pair of zeros per side; bias [O]. Returns y [N,Ho,Wo,O] (NHWC) / [N,O,Ho,Wo].
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.tf_ops._bridge import call, conv_inputs, input_grad_needed
from twincore.frontends.keras.tf_ops.matmul import _ACT


def _out_shape(x, w, strides, padding, dilation, layout):
    """The core's conv2d rules on the static shapes (None where unknown)."""
    kdims = (0, 1) if layout == "NHWC" else (2, 3)
    if x.shape.rank != 4 or w.shape.rank != 4 or any(w.shape[i] is None for i in kdims):
        return tf.TensorShape(None)
    try:
        return tf.TensorShape(_shapes.core_shape(
            lambda a, b: K.conv2d(a, b, None, strides, padding, dilation, layout), x.shape.as_list(),
            w.shape.as_list()))
    except (ValueError, TypeError):
        return tf.TensorShape(None)  # let the call itself name the bad argument


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1,
           activation: str | None = None, layout: str = "NHWC") -> tf.Tensor:
    """y = activation(conv(x, kernel) + bias) on the core; see the module docstring."""
    op = "conv2d"
    if activation not in _ACT:
        raise ValueError(f"twincore.{op}: argument 'activation': {activation!r} cannot be fused")
    if isinstance(padding, str):
        padding = padding.lower()
    act = None if activation == "linear" else activation  # fused into the kernel
    x, w, b = conv_inputs(x, kernel, bias, op)
    try:
        out = [(x.dtype, _out_shape(x, w, strides, padding, dilation, layout))]
    except (ValueError, TypeError):
        out = [(x.dtype, tf.TensorShape(None))]  # let the core name the bad argument
    geo = dict(stride=strides, padding=padding, dilation=dilation, layout=layout)
    has_bias = b is not None
    joint = input_grad_needed(x)  # one backward crossing for dx, dw, db (x is not data)

    def fwd(x, w, *b):
        return K.conv2d(x, w, b[0] if b else None, activation=act, **geo)

    @tf.custom_gradient
    def f(x, w, *b):
        y = call(fwd, [x, w, *b], out)

        def grad(dy):
            # Where dx is needed, one crossing (the joint call gives the split calls' bits).
            # Else two: the parameters' gradients, then the input's, which the graph prunes
            # when nothing reads dx (a first layer, whose input is data): that skips a whole
            # convolution. Each takes dy through the activation inside the kernel.
            if joint:
                def bwd_all(dy, y, x, w):
                    dx, dw, db = K.conv2d_backward(dy, x, w, need_bias=has_bias, y=y, activation=act, **geo)
                    return (dx, dw, db) if has_bias else (dx, dw)

                return call(bwd_all, [dy, y, x, w], [(x.dtype, x.shape), (w.dtype, w.shape)]
                            + ([(x.dtype, b[0].shape)] if has_bias else []))

            def bwd_params(dy, y, x, w):
                _, dw, db = K.conv2d_backward(dy, x, w, need_x=False, need_bias=has_bias, y=y,
                                              activation=act, **geo)
                return (dw, db) if has_bias else dw

            def bwd_input(dy, y, x, w):
                return K.conv2d_backward(dy, x, w, need_w=False, y=y, activation=act, **geo)[0]

            specs = [(w.dtype, w.shape)] + ([(x.dtype, b[0].shape)] if has_bias else [])
            res = call(bwd_params, [dy, y, x, w], specs)
            dx = call(bwd_input, [dy, y, x, w], [(x.dtype, x.shape)])
            return [dx] + (res if has_bias else [res])

        return y, grad

    return f(x, w, *([b] if has_bias else []))
