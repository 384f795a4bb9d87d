"""Functional ops of the native frontend. Each calls one C++ tape op (`_core.tape_<op>`):
the op runs the core kernel and, when an active GradientTape tracks an input, records a
node whose backward runs in C++ too. No math here.

Layouts: matmul is row-major [M, K] x [K, N] (batched [B, M, K]); images are NHWC by default
(see layers.py for why), NCHW on request.
Python numbers mixed into arithmetic take the other operand's dtype.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from twincore import _core
from twincore.frontends.native.tensor import Tensor, as_tensor


def _wrap(v) -> Tensor:
    t = Tensor.__new__(Tensor)
    t._v = v
    return t


def _var(x: Any, like: Tensor | None = None):
    return as_tensor(x, like)._v


def _pair(a, b) -> tuple:
    if isinstance(a, Tensor):
        return a._v, _var(b, a)
    b = as_tensor(b)
    return _var(a, b), b._v


def _const(x: Any, like: Tensor) -> Any:
    """A constant operand (labels, targets) in a form the core reads without a copy when it can."""
    if isinstance(x, Tensor):
        return x._v
    if hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray):
        return x
    x = np.asarray(x)
    if x.dtype.kind == "f" and x.dtype != like.dtype:
        x = x.astype(like.dtype)
    return np.ascontiguousarray(x)


# ---- dense algebra ----
def matmul(a: Tensor, b: Tensor, bias: Tensor | None = None, trans_a: bool = False,
           trans_b: bool = False) -> Tensor:
    """c = op(a) @ op(b) (+ bias). a [M,K] or [B,M,K] ([K,M] / [B,K,M] with trans_a); b [K,N] or
    [B,K,N] ([N,K] / [B,N,K] with trans_b; a 2-D b is shared by the batch); bias [N]; c [M,N] / [B,M,N]."""
    a = as_tensor(a)
    return _wrap(_core.tape_matmul(a._v, _var(b, a), None if bias is None else _var(bias, a),
                                   trans_a, trans_b))


def dense(x: Tensor, kernel: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """Keras's Dense: activation(x @ kernel + bias); x [N, in] or [B, N, in], kernel [in, out], bias [out]."""
    return activate(matmul(x, kernel, bias), activation)


def add(a: Any, b: Any) -> Tensor:
    """a + b with NumPy broadcasting (residual connections, biases)."""
    return _wrap(_core.tape_add(*_pair(a, b)))


def sub(a: Any, b: Any) -> Tensor:
    return _wrap(_core.tape_sub(*_pair(a, b)))


def mul(a: Any, b: Any) -> Tensor:
    return _wrap(_core.tape_mul(*_pair(a, b)))


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """A view with a new shape (one dim may be -1); no copy."""
    return _wrap(_core.tape_reshape(as_tensor(x)._v, tuple(shape)))


def flatten(x: Tensor) -> Tensor:
    """[N, ...] -> [N, prod(...)], keeping the batch axis (Keras's Flatten)."""
    x = as_tensor(x)
    return reshape(x, (x.shape[0], -1) if x.ndim > 0 else (1, 1))


def reduce_sum(x: Tensor) -> Tensor:
    """Sum of all elements, a 0-d tensor."""
    return _wrap(_core.tape_sum(as_tensor(x)._v))


def reduce_mean(x: Tensor) -> Tensor:
    """Mean of all elements, a 0-d tensor."""
    return _wrap(_core.tape_mean(as_tensor(x)._v))


# ---- activations ----
def relu(x: Tensor) -> Tensor:
    return _wrap(_core.tape_relu(as_tensor(x)._v))


def tanh(x: Tensor) -> Tensor:
    return _wrap(_core.tape_tanh(as_tensor(x)._v))


def softmax(x: Tensor) -> Tensor:
    """Softmax over the last axis."""
    return _wrap(_core.tape_softmax(as_tensor(x)._v))


_ACTIVATIONS = {None: None, "linear": None, "relu": relu, "tanh": tanh, "softmax": softmax}


def activate(x: Tensor, activation: str | None) -> Tensor:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"twincore.dense: argument 'activation': expected one of "
                         f"{[k for k in _ACTIVATIONS if k]} or None, got {activation!r}")
    fn = _ACTIVATIONS[activation]
    return x if fn is None else fn(x)


# ---- losses ----
def mse(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error; target has pred's shape. reduction "mean" | "sum" | "none"."""
    pred = as_tensor(pred)
    return _wrap(_core.tape_mse(pred._v, _const(target, pred), reduction))


def softmax_cross_entropy(logits: Tensor, labels: Any, label_smoothing: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(logits) and labels, fused (the gradient is made in the same pass).

    logits [N, C]; labels [N] int class ids or [N, C] probabilities / one-hot.
    """
    logits = as_tensor(logits)
    return _wrap(_core.tape_softmax_cross_entropy(logits._v, _const(labels, logits),
                                                  float(label_smoothing), reduction))


# ---- images (NHWC by default: see layers.py) ----
def conv2d(x: Tensor, w: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = "valid",
           dilation: Any = 1, layout: str = "NHWC") -> Tensor:
    """2-D convolution. NHWC: x [N,H,W,C], w [KH,KW,C,O] (HWIO); NCHW: x [N,C,H,W], w [O,C,KH,KW].
    stride/dilation int or pair; padding int, pair, "same" (TF's rule) or "valid"; bias [O]."""
    x = as_tensor(x)
    return _wrap(_core.tape_conv2d(x._v, _var(w, x), None if bias is None else _var(bias, x), stride,
                                   padding, dilation, layout))


def max_pool2d(x: Tensor, pool_size: Any = 2, strides: Any = None, padding: Any = "valid",
               layout: str = "NHWC") -> Tensor:
    """Max pooling over H and W; strides None = pool_size; padding int, pair, "same" or "valid"."""
    return _wrap(_core.tape_max_pool2d(as_tensor(x)._v, pool_size, pool_size if strides is None else strides,
                                       padding, layout))


def global_avg_pool2d(x: Tensor, layout: str = "NHWC") -> Tensor:
    """Mean over H and W: [N,H,W,C] (or [N,C,H,W]) -> [N,C]."""
    return _wrap(_core.tape_global_avg_pool2d(as_tensor(x)._v, layout))


def rotate(images: Tensor, angle: Any, translate: Any = (0.0, 0.0), interpolation: str = "bilinear",
           fill: str = "zeros", fill_value: float = 0.0, layout: str = "NHWC") -> Tensor:
    """Rotate each image by `angle` degrees counter-clockwise about its centre, then shift by
    translate (dx right, dy down) pixels. angle: a number or [N]; translate: a pair or [N,2].
    interpolation "bilinear" | "nearest"; fill "zeros" | "constant" | "nearest" | "reflect".
    Gradients flow to images, and to angle/translate when they are watched Tensors."""
    images = as_tensor(images)
    a = angle._v if isinstance(angle, Tensor) else _core.tape_var(np.asarray(angle, images.dtype))
    t = translate._v if isinstance(translate, Tensor) else _core.tape_var(np.asarray(translate, images.dtype))
    return _wrap(_core.tape_rotate(images._v, a, t, interpolation, fill, float(fill_value), layout))


# ---- GAN ops (issue 16) ----
def leaky_relu(x: Tensor, negative_slope: float = 0.3) -> Tensor:
    """x where x > 0, else negative_slope * x (Keras's default slope 0.3)."""
    return _wrap(_core.tape_leaky_relu(as_tensor(x)._v, float(negative_slope)))


def binary_cross_entropy_with_logits(logits: Tensor, targets: Any, pos_weight: Any = None,
                                     label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) and targets (the logits' shape), fused (the gradient
    is made in the same pass). pos_weight [C] / [1] or None; label_smoothing as Keras."""
    logits = as_tensor(logits)
    return _wrap(_core.tape_binary_cross_entropy_with_logits(
        logits._v, _const(targets, logits), None if pos_weight is None else _const(pos_weight, logits),
        float(label_smoothing), reduction))


def conv_transpose2d(x: Tensor, w: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = "valid",
                     output_padding: Any = None, dilation: Any = 1, layout: str = "NHWC") -> Tensor:
    """Transposed convolution. NHWC: x [N,H,W,Cin], w [KH,KW,Cout,Cin] (Keras's); NCHW: x [N,Cin,H,W],
    w [Cin,Cout,KH,KW] (torch's). padding "same" / "valid" (Keras's sizes) or ints (torch's)."""
    x = as_tensor(x)
    return _wrap(_core.tape_conv_transpose2d(x._v, _var(w, x), None if bias is None else _var(bias, x), stride,
                                             padding, output_padding, dilation, layout))


def batch_norm(x: Tensor, gamma: Tensor | None = None, beta: Tensor | None = None, eps: float = 1e-3,
               layout: str = "NHWC") -> tuple[Tensor, Tensor, Tensor]:
    """Batch normalization in training mode: (y, batch mean [C], batch biased var [C]); x [N, C] or images.
    Only y is differentiable (the statistics feed the running averages)."""
    x = as_tensor(x)
    y, m, v = _core.tape_batch_norm(x._v, None if gamma is None else _var(gamma, x),
                                    None if beta is None else _var(beta, x), float(eps), layout)
    return _wrap(y), _wrap(m), _wrap(v)

# ---- issue 16, LSTM half: sigmoid, embedding, lstm ----
def sigmoid(x: Tensor) -> Tensor:
    return _wrap(_core.tape_sigmoid(as_tensor(x)._v))


_ACTIVATIONS["sigmoid"] = sigmoid


def embedding(ids: Any, weight: Tensor) -> Tensor:
    """Rows of weight [V, D] at integer ids (a constant) of any shape S -> S + (D,)."""
    ids = ids._v if isinstance(ids, Tensor) else (ids if hasattr(ids, "__dlpack__") and not isinstance(ids, np.ndarray)
                                                  else np.ascontiguousarray(ids))
    return _wrap(_core.tape_embedding(ids, as_tensor(weight)._v))


def lstm(x: Tensor, kernel: Tensor, recurrent_kernel: Tensor, bias: Tensor | None = None, h0: Tensor | None = None,
         c0: Tensor | None = None, return_sequences: bool = False, batch_first: bool = True,
         keras_layout: bool = True) -> Tensor:
    """One LSTM layer over the whole sequence (the core's fused op). Keras's layout by default:
    x [B, T, I], kernel [I, 4H], recurrent_kernel [H, 4H] (gates i, f, c, o), bias [4H]; with
    keras_layout=False the kernel's [4H, I] / [4H, H]. h0, c0 [B, H] or None.
    Returns y [B, T, H] (return_sequences) or the last h [B, H]."""
    x = as_tensor(x)
    opt = lambda v: None if v is None else _var(v, x)  # noqa: E731
    return _wrap(_core.tape_lstm(x._v, _var(kernel, x), _var(recurrent_kernel, x), opt(bias), opt(h0), opt(c0),
                                 batch_first, return_sequences, keras_layout))
