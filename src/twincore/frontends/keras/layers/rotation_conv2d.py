"""RotationConv2D (the source notes' CustomConv2D): Conv2D that, while training, first rotates each input image by a
random angle in [-rotation_angle, rotation_angle] degrees about its centre and shifts
it by a random (dx, dy) in [-translation_range, translation_range] pixels (the core's
rotate kernel, bilinear), then convolves. At inference it only convolves.

Input [N, H, W, C] (NHWC); kernel [KH, KW, C, filters]. The random draws come from
keras.random with the layer's SeedGenerator (seed= makes them repeatable).
fill_mode: "constant" (fill_value), "nearest" or "reflect" for pixels from outside.
"""

from __future__ import annotations

import keras
from keras import ops

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers.conv2d import Conv2D

_FILLS = ("constant", "nearest", "reflect")


@keras.saving.register_keras_serializable(package="twincore")
class RotationConv2D(Conv2D):
    """Random rotation + translation (training only), then a 2-D convolution."""

    def __init__(self, filters, kernel_size, rotation_angle=0.0, translation_range=0.0,
                 interpolation="bilinear", fill_mode="constant", fill_value=0.0, seed=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        for arg, v in (("rotation_angle", rotation_angle), ("translation_range", translation_range)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"twincore.RotationConv2D: argument '{arg}': expected a number >= 0, got {v!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError("twincore.RotationConv2D: argument 'interpolation': expected 'bilinear' or "
                             f"'nearest', got {interpolation!r}")
        if fill_mode not in _FILLS:
            raise ValueError(f"twincore.RotationConv2D: argument 'fill_mode': expected one of {_FILLS}, "
                             f"got {fill_mode!r}")
        self.rotation_angle = float(rotation_angle)
        self.translation_range = float(translation_range)
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        x = inputs
        if training and (self.rotation_angle > 0 or self.translation_range > 0):
            n = ops.shape(inputs)[0]
            a, t = self.rotation_angle, self.translation_range
            angle = keras.random.uniform((n,), -a, a, dtype=self.compute_dtype, seed=self.seed_generator)
            shift = keras.random.uniform((n, 2), -t, t, dtype=self.compute_dtype, seed=self.seed_generator)
            x = impl.rotate(x, angle, shift, self.interpolation, self.fill_mode, self.fill_value)
        return self.convolve(x)

    def get_config(self):
        return {**super().get_config(), "rotation_angle": self.rotation_angle,
                "translation_range": self.translation_range, "interpolation": self.interpolation,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "seed": self.seed}


@keras.saving.register_keras_serializable(package="twincore")
class CustomConv2D(RotationConv2D):
    """The source notes' name for RotationConv2D, kept so their code and .keras files
    saved under that name load; new code uses RotationConv2D (torch: RotationConv2d)."""
