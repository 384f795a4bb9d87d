"""Conv2D: keras.layers.Conv2D's arguments, computed by the core's conv2d (+ bias +
activation in one crossing).

Input [N, H, W, C] (channels_last, Keras's default); kernel [KH, KW, C, filters]
(HWIO, name "kernel"); bias [filters] ("bias"). Output [N, Ho, Wo, filters] with
Ho = ceil(H / stride) for "same", (H - dilation*(KH-1) - 1) // stride + 1 for "valid".
channels_first and groups > 1 are refused (the core's NCHW conv wants OIHW kernels,
Keras keeps HWIO for both formats).
"""

from __future__ import annotations

import keras

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


def _check_data_format(layer: str, data_format) -> None:
    fmt = data_format or keras.config.image_data_format()
    if fmt != "channels_last":
        raise ValueError(f"twincore.{layer}: argument 'data_format': only 'channels_last' (NHWC) is "
                         f"supported, got {fmt!r}")


@keras.saving.register_keras_serializable(package="twincore")
class Conv2D(TwincoreLayer):
    """2-D convolution: activation(conv2d(inputs, kernel) + bias), NHWC."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        name = type(self).__name__
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"twincore.{name}: argument 'filters': expected a positive int, got {filters!r}")
        _check_data_format(name, data_format)
        if groups != 1:
            raise ValueError(f"twincore.{name}: argument 'groups': only groups=1 is supported, got {groups!r}")
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(f"twincore.{name}: argument 'padding': expected 'valid' or 'same', got {padding!r}")
        try:
            self.kernel_size = _shapes.pair(kernel_size, "kernel_size")
            self.strides = _shapes.pair(strides, "strides")
            self.dilation_rate = _shapes.pair(dilation_rate, "dilation_rate")
        except ValueError as e:
            raise ValueError(f"twincore.{name}: argument '{str(e).split()[0]}': {e}") from None
        for arg in ("kernel_size", "strides", "dilation_rate"):
            if min(getattr(self, arg)) <= 0:
                raise ValueError(f"twincore.{name}: argument '{arg}': must be positive, got {getattr(self, arg)}")
        self.filters = filters
        self.padding = padding
        self.data_format = "channels_last"
        self.groups = 1
        self._kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint, bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"twincore.{type(self).__name__}: argument 'inputs': the channel axis must be "
                             f"known, got shape {tuple(input_shape)}")
        self._add_kernel_and_bias(self.kernel_size + (channels, self.filters), self.filters)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def convolve(self, x):
        y = impl.conv2d(x, impl.value(self.kernel), None if self.bias is None else impl.value(self.bias),
                        self.strides, self.padding, self.dilation_rate, self._fused)
        return y if self._post is None else self._post(y)

    def call(self, inputs):
        return self.convolve(inputs)

    def compute_output_shape(self, input_shape):
        # the core's conv2d rules, on shapes only
        w_shape = self.kernel_size + (input_shape[-1], self.filters)
        return _shapes.core_shape(lambda x, w: K.conv2d(x, w, None, self.strides, self.padding, self.dilation_rate,
                                                        "NHWC"), input_shape, w_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint)}
