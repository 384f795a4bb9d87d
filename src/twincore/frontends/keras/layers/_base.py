"""What every twincore Keras layer shares: no XLA (TF, torch), the dtype policies the core
computes in, and splitting an activation into a fused part and a Keras part.

Dtype policies: "float32", "float64", and Keras's mixed ones ("mixed_float16",
"mixed_bfloat16": float32 variables, float16/bfloat16 compute). Under a mixed policy Keras
casts a layer's floating inputs to the compute dtype and, inside the layer's call, reads its
variables cast to it (autocast), so our ops receive and return the compute dtype; the core
accumulates in float32. Losses compute in float32 as Keras's do (keras.losses.Loss casts
y_pred to its own float32 dtype)."""

from __future__ import annotations

import keras

from twincore.frontends.keras.backend import impl

# compute dtypes the core runs (half precision with float32 accumulation)
SUPPORTED_DTYPES = ("float32", "float64", "float16", "bfloat16")


class TwincoreLayer(keras.layers.Layer):
    """Base of the twincore layers (keras.layers.Layer)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The core runs through tf.numpy_function / a torch Function, which XLA cannot
        # compile: Keras's jit_compile="auto" (and True) then falls back to no XLA. On JAX
        # the ops are XLA FFI custom calls, which jit compiles (backend/jax.py says so).
        self.supports_jit = getattr(impl, "SUPPORTS_JIT", False)
        compute = self.dtype_policy.compute_dtype
        if compute not in SUPPORTED_DTYPES:
            raise ValueError(
                f"twincore.{type(self).__name__}: argument 'dtype': dtype policy "
                f"'{self.dtype_policy.name}' computes in {compute}, which the twincore CPU core "
                f"does not support (use 'float32', 'float64', 'mixed_float16' or 'mixed_bfloat16')")

    def _kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                        bias_regularizer, kernel_constraint, bias_constraint) -> None:
        """The activation / bias / initializer / regularizer / constraint attributes Dense and
        Conv2D share, resolved as Keras resolves them."""
        self.activation = keras.activations.get(activation)
        self._fused, self._post = split_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def _add_kernel_and_bias(self, kernel_shape: tuple, units: int) -> None:
        """Create `kernel` and (with use_bias) `bias` [units] from the options above."""
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)


def split_activation(activation):
    """(fused name or None, callable applied after the op or None) for a Keras activation.

    relu and tanh run fused inside the core op; softmax runs as the core's softmax op;
    any other activation (Keras's or the user's own) runs as itself after our op.
    """
    fn = keras.activations.get(activation)
    if fn is None or fn is keras.activations.linear:
        return None, None
    if fn is keras.activations.relu:
        return "relu", None
    if fn is keras.activations.tanh:
        return "tanh", None
    if fn is keras.activations.softmax:
        return None, impl.softmax
    return None, fn
