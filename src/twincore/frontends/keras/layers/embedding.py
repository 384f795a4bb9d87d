"""Embedding: keras.layers.Embedding's arguments, computed by the core's gather (backward:
the core's deterministic scatter-add).

Input: integer ids of any shape S (other dtypes are cast to int32, as Keras does); weight
"embeddings" [input_dim, output_dim]; output S + (output_dim,). mask_zero and lora are
not supported.
"""

from __future__ import annotations

import keras
from keras import ops

from twincore.frontends.keras.backend import impl
from twincore.frontends.keras.layers._base import TwincoreLayer


@keras.saving.register_keras_serializable(package="twincore")
class Embedding(TwincoreLayer):
    """Turns integer ids into dense vectors: embeddings[ids]."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, **kwargs):
        kwargs.pop("input_length", None)  # Keras 2's argument, ignored as Keras 3 does
        super().__init__(**kwargs)
        for arg, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"twincore.Embedding: argument '{arg}': expected a positive int, got {v!r}")
        for arg, bad in (("mask_zero", bool(mask_zero)), ("lora_rank", lora_rank is not None)):
            if bad:
                raise ValueError(f"twincore.Embedding: argument '{arg}': not supported")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = keras.constraints.get(embeddings_constraint)
        self.mask_zero = False
        self._initial_weights = weights

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        return impl.embedding(inputs, impl.value(self.embeddings))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
                "embeddings_constraint": keras.constraints.serialize(self.embeddings_constraint),
                "mask_zero": False}
