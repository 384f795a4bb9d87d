"""Keras layers over the twincore core (Keras's names, arguments and weight names)."""

from twincore.frontends.keras.layers.conv2d import Conv2D  # noqa: F401
from twincore.frontends.keras.layers.rotation_conv2d import CustomConv2D, RotationConv2D  # noqa: F401
from twincore.frontends.keras.layers.dense import Dense  # noqa: F401
from twincore.frontends.keras.layers.pooling import GlobalAveragePooling2D, MaxPooling2D  # noqa: F401
from twincore.frontends.keras.layers.conv_transpose2d import Conv2DTranspose  # noqa: F401  (issue 16)
from twincore.frontends.keras.layers.leaky_relu import LeakyReLU  # noqa: F401  (issue 16)
from twincore.frontends.keras.layers.batch_norm import BatchNormalization  # noqa: F401  (issue 16)
from twincore.frontends.keras.layers.embedding import Embedding  # noqa: F401,E402  (issue 16)
from twincore.frontends.keras.layers.lstm import LSTM  # noqa: F401,E402  (issue 16)
