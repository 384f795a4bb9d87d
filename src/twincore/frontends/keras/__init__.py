"""twincore's Keras frontend: Keras layers and losses computed by the twincore core.

    import keras
    import twincore.keras as tk
    model = keras.Sequential([keras.Input((28, 28, 1)),
                              tk.Conv2D(32, 3, padding="same", activation="relu"),
                              tk.MaxPooling2D(2), keras.layers.Flatten(), tk.Dense(10)])
    model.compile("adam", tk.SparseCategoricalCrossentropy(from_logits=True))

Layers (Keras's names, arguments, weight names "kernel"/"bias", glorot_uniform / zeros
initialisation, get_config, registered as "twincore>Name"): Dense, Conv2D (NHWC, HWIO),
MaxPooling2D, GlobalAveragePooling2D, RotationConv2D (alias CustomConv2D: random rotation + shift while
training, then conv); for the GAN (issue 16) Conv2DTranspose ([KH, KW, filters, C] kernels),
LeakyReLU and BatchNormalization; for sequences LSTM and Embedding. Losses: SparseCategoricalCrossentropy, CategoricalCrossentropy
(the fused kernel; from_logits=False takes the log of normalised, clipped probabilities
as Keras does), MeanSquaredError, BinaryCrossentropy (the fused binary cross-entropy kernel).

Backends: on Keras's TensorFlow backend the layers call `tf_ops` (tf.custom_gradient
ops; eagerly they call the core directly by DLPack, inside tf.function through
tf.numpy_function with static shapes); on its torch backend they call
twincore.frontends.torch; on its JAX backend they call twincore.jax (XLA FFI custom calls,
which Keras may jit). `backend/` holds the little that differs, chosen at import.

Limits, by design: no XLA on TF and torch (supports_jit = False there, so jit_compile="auto"
or True falls back to no XLA; on JAX the train step is jitted); Conv2D is channels_last only, groups=1; a model's graph cannot be
exported as a SavedModel (model.export) since tf.numpy_function does not serialise; .keras
files and weights save and load on either backend.

Dtype policies: float32, float64, and Keras's mixed_float16 / mixed_bfloat16 on every backend
(float32 variables; our ops receive and return the compute dtype and accumulate in float32;
BatchNormalization computes in float32 as Keras's does; the losses compute in float32). On TF,
bfloat16 tensors cross a graph as their uint16 bits (NumPy has no bfloat16 that DLPack carries).
"""

from twincore.frontends.keras.backend import NAME as BACKEND  # noqa: F401
from twincore.frontends.keras.layers import (  # noqa: F401
    Conv2D, CustomConv2D, Dense, GlobalAveragePooling2D, MaxPooling2D, RotationConv2D)
from twincore.frontends.keras.losses import (  # noqa: F401
    CategoricalCrossentropy, MeanSquaredError, SparseCategoricalCrossentropy)
from twincore.frontends.keras.layers import BatchNormalization, Conv2DTranspose, LeakyReLU  # noqa: F401,E402  (GAN)
from twincore.frontends.keras.losses import BinaryCrossentropy  # noqa: F401,E402  (GAN, issue 16)
from twincore.frontends.keras.layers import Embedding, LSTM  # noqa: F401,E402  (issue 16: sequence models)
