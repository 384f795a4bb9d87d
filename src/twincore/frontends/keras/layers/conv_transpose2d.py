"""Conv2DTranspose: keras.layers.Conv2DTranspose's arguments, computed by the core's
conv_transpose2d (+ bias in the same crossing; other activations after it).

Input [N, H, W, C] (channels_last); kernel [KH, KW, filters, C] (Keras's layout, name
"kernel"); bias [filters] ("bias"). Output [N, Ho, Wo, filters] with Keras's sizes:
"same": Ho = H * stride; "valid": Ho = H * stride + max(k_eff - stride, 0); with output_padding:
(H - 1) * stride + k_eff - 2 * pad + output_padding (pad = k_eff // 2 for "same", 0 for "valid").
channels_first is refused.
"""

from __future__ import annotations

import keras

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers.conv2d import Conv2D


@keras.saving.register_keras_serializable(package="twincore")
class Conv2DTranspose(Conv2D):
    """2-D transposed convolution: activation(conv_transpose2d(inputs, kernel) + bias), NHWC."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        kwargs.pop("groups", None)
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        try:
            self.output_padding = None if output_padding is None else _shapes.pair(output_padding, "output_padding")
        except ValueError as e:
            raise ValueError(f"twincore.Conv2DTranspose: argument 'output_padding': {e}") from None
        # The core fuses no activation into this op: relu / tanh run as the core's own ops after it
        # (the same kernels as every frontend's), any other activation as itself.
        fused, post = self._fused, self._post
        self._fused, self._post = None, getattr(impl, fused) if fused else post

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"twincore.Conv2DTranspose: argument 'inputs': the channel axis must be known, "
                             f"got shape {tuple(input_shape)}")
        self._add_kernel_and_bias(self.kernel_size + (self.filters, channels), self.filters)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def convolve(self, x):
        y = impl.conv_transpose2d(x, impl.value(self.kernel), None if self.bias is None else impl.value(self.bias),
                                  self.strides, self.padding, self.output_padding, self.dilation_rate)
        return y if self._post is None else self._post(y)

    def compute_output_shape(self, input_shape):
        kh, kw = self.kernel_size
        return _shapes.core_shape(  # the core's size rule on Meta arrays
            lambda a, k: K.conv_transpose2d(a, k, None, stride=self.strides, padding=self.padding,
                                            output_padding=self.output_padding, dilation=self.dilation_rate,
                                            layout="NHWC"),
            tuple(input_shape), (kh, kw, self.filters, input_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        return {**config, "output_padding": self.output_padding}
