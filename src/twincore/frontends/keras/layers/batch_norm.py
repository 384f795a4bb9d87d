"""BatchNormalization: keras.layers.BatchNormalization's arguments and weights (gamma, beta,
moving_mean, moving_variance), on the core's batch_norm. Channel axis last (axis=-1): [N, C] or
[N, H, W, C]. Training: batch statistics, and the moving averages updated as Keras updates them
(moving = momentum * moving + (1 - momentum) * batch, the biased batch variance) by the core's
update kernel; inference: the moving statistics.

Mixed precision (as Keras's own layer): float16/bfloat16 inputs are cast to float32, the layer
computes in float32 with float32 weights (never autocast: the statistics would lose digits)
and casts its output to the compute dtype."""

from __future__ import annotations

import keras

from keras import ops

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


@keras.saving.register_keras_serializable(package="twincore")
class BatchNormalization(TwincoreLayer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        name = "twincore.BatchNormalization"
        if axis not in (-1, 3) and axis != [-1]:
            raise ValueError(f"{name}: argument 'axis': only the last axis (channels_last) is supported, got {axis!r}")
        if synchronized:
            raise ValueError(f"{name}: argument 'synchronized': not supported")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{name}: argument 'momentum': expected a number in [0, 1], got {momentum!r}")
        if not float(epsilon) > 0:
            raise ValueError(f"{name}: argument 'epsilon': expected a positive number, got {epsilon!r}")
        self.axis, self.momentum, self.epsilon = -1, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) not in (2, 4) or input_shape[-1] is None:
            raise ValueError(f"twincore.BatchNormalization: argument 'inputs': expected [N, C] or [N, H, W, C] "
                             f"with a known C, got {tuple(input_shape)}")
        c = (input_shape[-1],)
        self.gamma = self.add_weight(name="gamma", shape=c, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
                                     autocast=False) \
            if self.scale else None
        self.beta = self.add_weight(name="beta", shape=c, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint,
                                    autocast=False) \
            if self.center else None
        self.moving_mean = self.add_weight(name="moving_mean", shape=c, initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=c,
                                               initializer=self.moving_variance_initializer, trainable=False,
                                               autocast=False)

    def call(self, inputs, training=None):
        if keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16"):  # as Keras: stats in float32
            return ops.cast(self.call(ops.cast(inputs, "float32"), training), self.compute_dtype)
        gamma = None if self.gamma is None else impl.value(self.gamma)
        beta = None if self.beta is None else impl.value(self.beta)
        if not training:
            return impl.batch_norm_inference(inputs, gamma, beta, impl.value(self.moving_mean),
                                             impl.value(self.moving_variance), self.epsilon, "NHWC")
        y, mean, var = impl.batch_norm(inputs, gamma, beta, self.epsilon, "NHWC")
        count = 1  # the values per channel matter only for an unbiased variance, which Keras does not use
        new_mean, new_var = impl.batch_norm_update_stats(impl.value(self.moving_mean), impl.value(self.moving_variance),
                                                         mean, var, 1.0 - self.momentum, count, False)
        self.moving_mean.assign(new_mean)
        self.moving_variance.assign(new_var)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        ser = keras.initializers.serialize
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "beta_initializer": ser(self.beta_initializer),
                "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": keras.constraints.serialize(self.beta_constraint),
                "gamma_constraint": keras.constraints.serialize(self.gamma_constraint)}
