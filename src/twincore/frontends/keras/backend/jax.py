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


def __getattr__(name: str):
    # Ops with no XLA FFI handler yet (the sequence and GAN ops: only the TF and torch
    # backends have them) fail by name instead of with a bare AttributeError.
    if name.startswith("_"):
        raise AttributeError(name)
    raise NotImplementedError(f"twincore.keras on KERAS_BACKEND=jax: '{name}' has no JAX handler yet "
                              "(use KERAS_BACKEND=tensorflow or torch for this layer)")
