"""Keras on JAX: the layers' functions are twincore.jax's ops (XLA FFI custom calls with
jax.custom_vjp), so Keras's jitted train step, jax.grad and model.predict all run them.
Layouts are Keras's: NHWC images, HWIO conv kernels, [in, out] dense kernels. Keras
Variables go in as variable.value (the jax array, or the stateless scope's value).
"""

from __future__ import annotations

import twincore.frontends.jax as tj

# Unlike the TF bridge (tf.numpy_function) and the torch Function, these ops compile into
# XLA programs: Keras may jit the train step (TwincoreLayer reads this flag).
SUPPORTS_JIT = True
_ACT = {None: None, "linear": None, "relu": tj.relu, "tanh": tj.tanh}


def value(variable):
    """The jax array behind a Keras Variable."""
    return None if variable is None else variable.value


def dense(x, kernel, bias=None, activation=None):
    """activation(x [N,in] @ kernel [in,out] + bias [out]): one crossing each way."""
    return tj.dense(x, kernel, bias, activation)


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, activation=None, layout="NHWC"):
    """activation(conv2d(x, kernel) + bias), NHWC with an HWIO kernel (activation fused)."""
    return tj.conv2d(x, kernel, bias, strides, padding, dilation, layout, activation)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", layout="NHWC"):
    return tj.max_pool2d(x, pool_size, strides, padding, layout)


def global_avg_pool2d(x, layout="NHWC"):
    return tj.global_avg_pool2d(x, layout)


def softmax(x):
    return tj.softmax(x)


def rotate(images, angle, translate=(0.0, 0.0), interpolation="bilinear", fill="zeros", fill_value=0.0,
           layout="NHWC"):
    return tj.rotate(images, angle, translate, interpolation, fill, fill_value, layout)


def softmax_cross_entropy(logits, labels, label_smoothing=0.0, reduction="none"):
    return tj.softmax_cross_entropy(logits, labels, label_smoothing, reduction)


def mse(pred, target, reduction="mean"):
    return tj.mse(pred, target, reduction)


# ---- GAN ops (issue 16) ----
relu, tanh = tj.relu, tj.tanh  # activations run after an op that fuses none (Conv2DTranspose)


def leaky_relu(x, negative_slope=0.3):
    return tj.leaky_relu(x, negative_slope)


def conv_transpose2d(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1,
                     layout="NHWC"):
    """NHWC with Keras's [KH, KW, out, in] kernel."""
    return tj.conv_transpose2d(x, kernel, bias, strides, padding, output_padding, dilation, layout)


def binary_cross_entropy_with_logits(logits, targets, label_smoothing=0.0, reduction="none", pos_weight=None):
    return tj.binary_cross_entropy_with_logits(logits, targets, pos_weight, label_smoothing, reduction)


def batch_norm(x, gamma=None, beta=None, eps=1e-3, layout="NHWC"):
    """(y, batch mean, batch var): the statistics carry no gradient."""
    return tj.batch_norm(x, gamma, beta, float(eps), layout)


def batch_norm_update_stats(moving_mean, moving_var, mean, var, momentum, count, unbiased):
    return tj.batch_norm_update_stats(moving_mean, moving_var, mean, var, float(momentum), count, unbiased)


def batch_norm_inference(x, gamma, beta, mean, var, eps=1e-3, layout="NHWC"):
    return tj.batch_norm_inference(x, gamma, beta, mean, var, float(eps), layout)


# ---- issue 16, LSTM half ----
def sigmoid(x):
    return tj.sigmoid(x)


def embedding(ids, embeddings):
    return tj.embedding(ids, embeddings)


def lstm(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, return_sequences=True):
    """Keras's layout (x [B,T,I], kernel [I,4H], recurrent_kernel [H,4H], gates i, f, c, o)
    -> the kernel's (w_ih [4H,I], w_hh [4H,H], gates i, f, g, o: the same order) by transposes
    that jax.grad sees. Returns (y or None, h_n, c_n)."""
    return tj.lstm(x, kernel.T, recurrent_kernel.T, bias, h0, c0, batch_first=True,
                   return_sequences=return_sequences)
