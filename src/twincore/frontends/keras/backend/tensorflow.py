"""Keras on TensorFlow: the layers' functions are the tf.custom_gradient ops of tf_ops."""

from twincore.frontends.keras.tf_ops import (  # noqa: F401
    conv2d, dense, global_avg_pool2d, max_pool2d, mse, rotate, softmax, softmax_cross_entropy)
from twincore.frontends.keras.tf_ops import (  # noqa: F401  (GAN ops, issue 16)
    batch_norm, batch_norm_inference, batch_norm_update_stats, binary_cross_entropy_with_logits, conv_transpose2d,
    leaky_relu, relu, tanh)

from twincore.frontends.keras.tf_ops import embedding, lstm, sigmoid  # noqa: F401,E402  (issue 16)


def value(variable):
    """What a layer passes for a Keras Variable: TF reads it (tape-visible) in the op."""
    return variable
