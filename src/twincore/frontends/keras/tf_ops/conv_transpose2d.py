"""conv_transpose2d (+ bias) as a TF op over the core.

conv_transpose2d(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1,
                 layout="NHWC"):
    NHWC: x [N,H,W,Cin], kernel [KH,KW,Cout,Cin] (Keras's Conv2DTranspose); NCHW: x [N,Cin,H,W],
    kernel [Cin,Cout,KH,KW] (torch's). padding "valid" / "same" (Keras's sizes) or an int/pair
    (torch's); output_padding None or an int/pair. Returns y [N,OH,OW,Cout] / [N,Cout,OH,OW].
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.tf_ops._bridge import call, conv_inputs


def _out_shape(x, w, strides, padding, output_padding, dilation, layout):
    # the core's own size rule, asked on Meta arrays (unknown sizes stay None)
    return tf.TensorShape(_shapes.core_shape(
        lambda a, k: K.conv_transpose2d(a, k, None, stride=strides, padding=padding, output_padding=output_padding,
                                        dilation=dilation, layout=layout), x.shape.as_list(), w.shape.as_list()))


def conv_transpose2d(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1,
                     layout: str = "NHWC") -> tf.Tensor:
    """y = conv_transpose(x, kernel) + bias on the core; see the module docstring."""
    op = "conv_transpose2d"
    if isinstance(padding, str):
        padding = padding.lower()
    x, w, b = conv_inputs(x, kernel, bias, op)
    try:
        out = [(x.dtype, _out_shape(x, w, strides, padding, output_padding, dilation, layout))]
    except (ValueError, TypeError):
        out = [(x.dtype, tf.TensorShape(None))]  # let the core name the bad argument
    geo = dict(stride=strides, padding=padding, output_padding=output_padding, dilation=dilation, layout=layout)
    has_bias = b is not None

    def fwd(x, w, *b):
        return K.conv_transpose2d(x, w, b[0] if b else None, **geo)

    @tf.custom_gradient
    def f(x, w, *b):
        y = call(fwd, [x, w, *b], out)

        def grad(dy):
            # Parameters' gradients, then the input's in its own crossing (pruned when nothing
            # reads dx, as for a first layer).
            def bwd_params(dy, x, w):
                _, dw, db = K.conv_transpose2d_backward(dy, x, w, need_x=False, need_bias=has_bias, **geo)
                return (dw, db) if has_bias else dw

            def bwd_input(dy, x, w):
                return K.conv_transpose2d_backward(dy, x, w, need_w=False, **geo)[0]

            specs = [(w.dtype, w.shape)] + ([(x.dtype, b[0].shape)] if has_bias else [])
            res = call(bwd_params, [dy, x, w], specs)
            dx = call(bwd_input, [dy, x, w], [(x.dtype, x.shape)])
            return [dx] + (res if has_bias else [res])

        return y, grad

    return f(x, w, *([b] if has_bias else []))
