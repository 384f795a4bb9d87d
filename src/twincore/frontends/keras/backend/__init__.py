"""The per-backend functions the Keras layers call, chosen once at import.

Keras 3 style: backend/tensorflow.py, backend/torch.py and backend/jax.py define the same names
(dense, conv2d, max_pool2d, global_avg_pool2d, softmax, rotate,
softmax_cross_entropy, mse, value); the layers call `impl.<name>` and never look at
which backend runs. Layouts are Keras's: NHWC images, HWIO conv kernels, [in, out]
dense kernels.
"""

import keras

NAME = keras.backend.backend()
if NAME == "tensorflow":
    from twincore.frontends.keras.backend import tensorflow as impl
elif NAME == "torch":
    from twincore.frontends.keras.backend import torch as impl
elif NAME == "jax":
    from twincore.frontends.keras.backend import jax as impl
else:
    raise ImportError(f"twincore.frontends.keras: Keras backend {NAME!r} is not supported "
                      "(set KERAS_BACKEND to 'tensorflow', 'torch' or 'jax')")

__all__ = ["NAME", "impl"]
