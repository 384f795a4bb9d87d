"""twincore's Keras frontend: Keras layers and losses computed by the twincore core.

    from twincore.frontends import keras as tk
    model = keras.Sequential([keras.Input((28, 28, 1)),
                              tk.Conv2D(32, 3, padding="same", activation="relu"),
                              tk.MaxPooling2D(2), keras.layers.Flatten(), tk.Dense(10)])
    model.compile("adam", tk.SparseCategoricalCrossentropy(from_logits=True))

Runs on Keras's TensorFlow backend (tf.custom_gradient ops in `tf_ops`, eager and
in tf.function) and on its torch backend (twincore.frontends.torch.functional);
backend/ holds the little that differs. Layers refuse XLA (supports_jit = False)
and mixed-precision dtype policies (the CPU core computes in float32/float64).
"""

from twincore.frontends.keras.backend import NAME as BACKEND  # noqa: F401
from twincore.frontends.keras.layers import (  # noqa: F401
    Conv2D, CustomConv2D, Dense, GlobalAveragePooling2D, MaxPooling2D)
from twincore.frontends.keras.losses import (  # noqa: F401
    CategoricalCrossentropy, MeanSquaredError, SparseCategoricalCrossentropy)
