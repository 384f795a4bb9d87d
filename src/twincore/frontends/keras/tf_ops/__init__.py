"""TensorFlow ops over the twincore core: one tf.custom_gradient op per kernel.

Each takes TF tensors (or anything tf.convert_to_tensor takes, Keras Variables
included) and returns TF tensors; it works eagerly and inside tf.function (through
tf.numpy_function with static output shapes; see _bridge). Layouts are TF's (NHWC,
HWIO kernels) unless `layout=` says otherwise.
"""

from twincore.frontends.keras.tf_ops.activations import relu, softmax, tanh  # noqa: F401
from twincore.frontends.keras.tf_ops.conv2d import conv2d  # noqa: F401
from twincore.frontends.keras.tf_ops.softmax_cross_entropy import softmax_cross_entropy  # noqa: F401
from twincore.frontends.keras.tf_ops.matmul import dense, matmul  # noqa: F401
from twincore.frontends.keras.tf_ops.mse import mse  # noqa: F401
from twincore.frontends.keras.tf_ops.global_avg_pool2d import global_avg_pool2d  # noqa: F401
from twincore.frontends.keras.tf_ops.max_pool2d import max_pool2d  # noqa: F401
from twincore.frontends.keras.tf_ops.rotate import rotate  # noqa: F401
# GAN ops (issue 16)
from twincore.frontends.keras.tf_ops.binary_cross_entropy import binary_cross_entropy_with_logits  # noqa: F401
from twincore.frontends.keras.tf_ops.conv_transpose2d import conv_transpose2d  # noqa: F401
from twincore.frontends.keras.tf_ops.leaky_relu import leaky_relu  # noqa: F401
from twincore.frontends.keras.tf_ops.batch_norm import (  # noqa: F401
    batch_norm, batch_norm_inference, batch_norm_update_stats)

# issue 16, LSTM half
from twincore.frontends.keras.tf_ops.activations import sigmoid  # noqa: F401,E402
from twincore.frontends.keras.tf_ops.embedding import embedding  # noqa: F401,E402
from twincore.frontends.keras.tf_ops.lstm import lstm  # noqa: F401,E402
