"""MaxPooling2D and GlobalAveragePooling2D with keras.layers' arguments, on the core.

MaxPooling2D: [N, H, W, C] -> [N, Ho, Wo, C] (channels_last) or [N, C, H, W] ->
[N, C, Ho, Wo] (channels_first); strides None = pool_size; padding "valid" | "same".
GlobalAveragePooling2D: [N, H, W, C] -> [N, C] ([N, 1, 1, C] with keepdims).
"""

from __future__ import annotations

import keras
from keras import ops

import twincore.kernels as K
from twincore.frontends.keras import _shapes
from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


def _layout(layer: str, data_format) -> str:
    fmt = data_format or keras.config.image_data_format()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"twincore.{layer}: argument 'data_format': expected 'channels_last' or "
                         f"'channels_first', got {fmt!r}")
    return fmt


@keras.saving.register_keras_serializable(package="twincore")
class MaxPooling2D(TwincoreLayer):
    """Max over each pool_size window (the gradient goes to the window's argmax)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(f"twincore.MaxPooling2D: argument 'padding': expected 'valid' or 'same', got {padding!r}")
        try:
            self.pool_size = _shapes.pair(pool_size, "pool_size")
            self.strides = self.pool_size if strides is None else _shapes.pair(strides, "strides")
        except ValueError as e:
            raise ValueError(f"twincore.MaxPooling2D: argument '{str(e).split()[0]}': {e}") from None
        if min(self.pool_size + self.strides) <= 0:
            raise ValueError("twincore.MaxPooling2D: argument 'pool_size': pool_size and strides must be "
                             f"positive, got {self.pool_size}, {self.strides}")
        self.padding = padding
        self.data_format = _layout("MaxPooling2D", data_format)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        layout = "NHWC" if self.data_format == "channels_last" else "NCHW"
        return impl.max_pool2d(inputs, self.pool_size, self.strides, self.padding, layout)

    def compute_output_shape(self, input_shape):
        layout = "NHWC" if self.data_format == "channels_last" else "NCHW"
        return _shapes.core_shape(lambda x: K.max_pool2d(x, self.pool_size, self.strides, self.padding, layout),
                                  input_shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="twincore")
class GlobalAveragePooling2D(TwincoreLayer):
    """Mean over the spatial axes."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _layout("GlobalAveragePooling2D", data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        last = self.data_format == "channels_last"
        y = impl.global_avg_pool2d(inputs, "NHWC" if last else "NCHW")
        if self.keepdims:
            y = ops.expand_dims(ops.expand_dims(y, 1 if last else 2), 1 if last else 2)
        return y

    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[-1 if self.data_format == "channels_last" else 1]
        if not self.keepdims:
            return (n, c)
        return (n, 1, 1, c) if self.data_format == "channels_last" else (n, c, 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}
