"""LSTM: keras.layers.LSTM's arguments and weights, computed by the core's fused LSTM op
(the whole sequence in one call; single layer, unidirectional).

Input [B, T, I]; weights "kernel" [I, 4*units], "recurrent_kernel" [units, 4*units],
"bias" [4*units], gates in Keras's order i, f, c, o (Keras's initialisers: glorot_uniform,
orthogonal, zeros with unit_forget_bias). Output [B, T, units] with return_sequences, else
[B, units]; with return_state, [output, h_n, c_n]. initial_state=[h0, c0] is accepted.
Only Keras's default activations (tanh, sigmoid) are fused; dropout, recurrent_dropout,
go_backwards, stateful and masks are not supported (refused, never ignored).
"""

from __future__ import annotations

import keras
from keras import ops

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


def _bad(arg: str, msg: str) -> ValueError:
    return ValueError(f"twincore.LSTM: argument '{arg}': {msg}")


@keras.saving.register_keras_serializable(package="twincore")
class LSTM(TwincoreLayer):
    """Long short-term memory layer over a whole sequence (keras.layers.LSTM's arguments)."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise _bad("units", f"expected a positive int, got {units!r}")
        if keras.activations.get(activation) is not keras.activations.tanh:
            raise _bad("activation", f"only 'tanh' is fused, got {activation!r}")
        if keras.activations.get(recurrent_activation) is not keras.activations.sigmoid:
            raise _bad("recurrent_activation", f"only 'sigmoid' is fused, got {recurrent_activation!r}")
        for arg, bad in (("dropout", dropout != 0), ("recurrent_dropout", recurrent_dropout != 0),
                         ("go_backwards", bool(go_backwards)), ("stateful", bool(stateful))):
            if bad:
                raise _bad(arg, "not supported")
        self.units, self.use_bias, self.unit_forget_bias = units, use_bias, unit_forget_bias
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.seed, self.unroll, self.use_cudnn = seed, unroll, use_cudnn
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise _bad("inputs", f"the last axis must be known, got shape {tuple(input_shape)}")
        u = self.units
        self.kernel = self.add_weight(name="kernel", shape=(in_dim, 4 * u), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(u, 4 * u), initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:  # Keras's rule: the forget gate's bias starts at 1
                def init(shape, dtype=None, _b=self.bias_initializer):
                    return ops.concatenate([_b((u,), dtype=dtype), ops.ones((u,), dtype=dtype),
                                            _b((2 * u,), dtype=dtype)])
            self.bias = self.add_weight(name="bias", shape=(4 * u,), initializer=init,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={-1: in_dim})

    def call(self, inputs, initial_state=None, mask=None, training=None):
        if mask is not None:
            raise _bad("mask", "masked sequences are not supported")
        h0 = c0 = None
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
                raise _bad("initial_state", "expected [h0, c0]")
            h0, c0 = initial_state
        y, hn, cn = impl.lstm(inputs, impl.value(self.kernel), impl.value(self.recurrent_kernel),
                              None if self.bias is None else impl.value(self.bias), h0, c0,
                              return_sequences=self.return_sequences)
        out = y if self.return_sequences else hn
        return [out, hn, cn] if self.return_state else out

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        out = (b, input_shape[1], self.units) if self.return_sequences else (b, self.units)
        return [out, (b, self.units), (b, self.units)] if self.return_state else out

    def get_config(self):
        ser = keras.initializers.serialize
        reg, con = keras.regularizers.serialize, keras.constraints.serialize
        return {**super().get_config(), "units": self.units, "activation": "tanh",
                "recurrent_activation": "sigmoid", "use_bias": self.use_bias,
                "kernel_initializer": ser(self.kernel_initializer),
                "recurrent_initializer": ser(self.recurrent_initializer),
                "bias_initializer": ser(self.bias_initializer), "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": reg(self.kernel_regularizer),
                "recurrent_regularizer": reg(self.recurrent_regularizer),
                "bias_regularizer": reg(self.bias_regularizer), "kernel_constraint": con(self.kernel_constraint),
                "recurrent_constraint": con(self.recurrent_constraint), "bias_constraint": con(self.bias_constraint),
                "dropout": 0.0, "recurrent_dropout": 0.0, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": False, "stateful": False, "unroll": self.unroll, "use_cudnn": self.use_cudnn}
