"""Dense: keras.layers.Dense's arguments, computed by the core's matmul (+ bias +
activation in one crossing).

Input [..., in]; kernel [in, units] (Keras's layout, name "kernel"); bias [units]
("bias"). Output [..., units].
"""

from __future__ import annotations

import keras
from keras import ops

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


@keras.saving.register_keras_serializable(package="twincore")
class Dense(TwincoreLayer):
    """Densely connected layer: activation(inputs @ kernel + bias)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"twincore.Dense: argument 'units': expected a positive int, got {units!r}")
        self.units = units
        self._kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint, bias_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError("twincore.Dense: argument 'inputs': the last axis must be known, "
                             f"got shape {tuple(input_shape)}")
        self._add_kernel_and_bias((in_dim, self.units), self.units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        x = inputs
        lead = None
        if len(inputs.shape) != 2:  # the core's dense takes [N, in]: fold the leading axes
            lead = ops.shape(inputs)[:-1]
            x = ops.reshape(inputs, (-1, inputs.shape[-1]))
        y = impl.dense(x, impl.value(self.kernel), None if self.bias is None else impl.value(self.bias),
                       self._fused)
        if self._post is not None:
            y = self._post(y)
        if lead is not None:
            y = ops.reshape(y, tuple(lead) + (self.units,))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint)}
