"""Keras on torch: the layers' functions are twincore.frontends.torch's ops.

Those are torch custom ops with autograd and fake (meta) implementations, so Keras's
symbolic build and torch's autograd both see them. Layouts are Keras's: NHWC images,
HWIO conv kernels, [in, out] dense kernels. Keras Variables go in as variable.value
(the torch Parameter), never as the Keras Variable itself.
"""

from __future__ import annotations

import twincore.frontends.torch.functional as F

_ACT = {None: None, "linear": None, "relu": F.relu, "tanh": F.tanh}


def value(variable):
    """The torch tensor behind a Keras Variable (what a torch op can take)."""
    return None if variable is None else variable.value


def _act(y, activation):
    fn = _ACT[activation]
    return y if fn is None else fn(y)


def dense(x, kernel, bias=None, activation=None):
    """activation(x [N,in] @ kernel [in,out] + bias [out]); bias fused in the GEMM."""
    return _act(F.matmul(x, kernel, bias), activation)


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, activation=None, layout="NHWC"):
    """activation(conv2d(x, kernel) + bias), NHWC with an HWIO kernel."""
    return _act(F.conv2d(x, kernel, bias, strides, padding, dilation, layout=layout), activation)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", layout="NHWC"):
    return F.max_pool2d(x, pool_size, strides, padding, layout=layout)


def global_avg_pool2d(x, layout="NHWC"):
    return F.global_avg_pool2d(x, layout=layout)


def softmax(x):
    return F.softmax(x)


def rotate(images, angle, translate=(0.0, 0.0), interpolation="bilinear", fill="zeros", fill_value=0.0,
           layout="NHWC"):
    return F.rotate(images, angle, translate, interpolation, fill, fill_value, layout=layout)


def softmax_cross_entropy(logits, labels, label_smoothing=0.0, reduction="none"):
    return F.cross_entropy(logits, labels, label_smoothing, reduction)


def mse(pred, target, reduction="mean"):
    return F.mse_loss(pred, target, reduction)


# ---- GAN ops (issue 16) ----
relu, tanh = F.relu, F.tanh  # activations run after an op that fuses none (Conv2DTranspose)


def leaky_relu(x, negative_slope=0.3):
    return F.leaky_relu(x, negative_slope)


def conv_transpose2d(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1,
                     layout="NHWC"):
    """NHWC with Keras's [KH, KW, out, in] kernel."""
    return F.conv_transpose2d(x, kernel, bias, strides, padding, output_padding, 1, dilation, layout=layout)


def binary_cross_entropy_with_logits(logits, targets, label_smoothing=0.0, reduction="none", pos_weight=None):
    return F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction, pos_weight=pos_weight,
                                              label_smoothing=label_smoothing)


def batch_norm(x, gamma=None, beta=None, eps=1e-3, layout="NHWC"):
    """(y, batch mean, batch var): twincore::batch_norm (the statistics carry no gradient)."""
    from twincore.frontends.torch import ops
    from twincore.frontends.torch._common import call

    return call(ops.batch_norm, x, gamma, beta, float(eps), layout)


def batch_norm_update_stats(moving_mean, moving_var, mean, var, momentum, count, unbiased):
    import torch

    import twincore.kernels as K

    with torch.no_grad():
        return K.batch_norm_update_stats(moving_mean, moving_var, mean, var, momentum, count, unbiased)


def batch_norm_inference(x, gamma, beta, mean, var, eps=1e-3, layout="NHWC"):
    from twincore.frontends.torch import ops

    return ops.batch_norm_inference(x, gamma, beta, mean, var, float(eps), layout)

# ---- issue 16, LSTM half ---------------------------------------------------------------

def sigmoid(x):
    return F.sigmoid(x)


def embedding(ids, embeddings):
    return F.embedding(ids, embeddings)


def lstm(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, return_sequences=True):
    """Keras's layout (x [B,T,I], kernel [I,4H], recurrent_kernel [H,4H], gates i, f, c, o)
    -> the kernel's (w_ih [4H,I], w_hh [4H,H], gates i, f, g, o: the same order) by transposes
    that autograd sees. Returns (y or None, h_n, c_n)."""
    return F.lstm(x, kernel.t(), recurrent_kernel.t(), bias, h0, c0, batch_first=True,
                  return_sequences=return_sequences)
