"""LeakyReLU: keras.layers.LeakyReLU(negative_slope=0.3) on the core's leaky_relu; any shape."""

from __future__ import annotations

import keras

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


@keras.saving.register_keras_serializable(package="twincore")
class LeakyReLU(TwincoreLayer):
    """y = x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name, which Keras 3 still accepts
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) \
                or not float(negative_slope) >= 0:
            raise ValueError(f"twincore.LeakyReLU: argument 'negative_slope': expected a number >= 0, "
                             f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.supports_masking = True

    def call(self, inputs):
        return impl.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}
