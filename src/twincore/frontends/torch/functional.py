"""twincore's ops for torch tensors, with torch-style signatures (`import
twincore.frontends.torch.functional as tcf`).

Each function only normalises arguments and calls one custom op of
`twincore.frontends.torch.ops` (autograd-aware, torch.compile-friendly); in eager mode
through the op's autograd.Function twin, which skips the dispatcher (`_common.call`). The Keras
frontend calls these same functions on its torch backend with layout="NHWC".
Tensors: float32, float64, float16 or bfloat16 (one dtype per call; under torch.autocast the
ops cast as torch's own, see _common.register_autocast); images NCHW ("layout") unless said otherwise.
"""

from __future__ import annotations


import torch
from torch import Tensor

import twincore.kernels as K

from twincore.frontends.torch import ops
from twincore.frontends.torch._common import bad, call, check_tensor, layout_arg, pair, padding_arg

__all__ = ["linear", "matmul", "conv2d", "rotate", "max_pool2d", "global_avg_pool2d", "relu", "tanh",
           "softmax", "cross_entropy", "mse_loss"]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x [*, in] @ weight[out, in].T + bias [out] -> [*, out] (torch's layout, as F.linear)."""
    check_tensor(x, "matmul", "a")
    check_tensor(weight, "matmul", "b")
    if x.dim() == 2:
        return call(ops.matmul, x, weight, bias, False, True)
    if x.dim() == 0:
        raise bad("matmul", "a", "expected a tensor of rank >= 1, got a 0-d tensor")
    # One GEMM over all leading dims: [*, in] -> [prod(*), in] (a view for contiguous x).
    y = call(ops.matmul, x.reshape(-1, x.shape[-1]), weight, bias, False, True)
    return y.reshape(*x.shape[:-1], y.shape[-1])


def matmul(a: Tensor, b: Tensor, bias: Tensor | None = None) -> Tensor:
    """a [M,K] or [B,M,K] @ b [K,N] or [B,K,N] (+ bias [N]) -> [M,N] or [B,M,N].

    With a 2-D b and a bias this is Keras's Dense (kernel [in, out]) in one fused GEMM."""
    check_tensor(a, "matmul", "a")
    check_tensor(b, "matmul", "b")
    return call(ops.matmul, a, b, bias, False, False)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           layout: str = "NCHW") -> Tensor:
    """2-D convolution (cross-correlation, as torch and TF).

    layout "NCHW": x [N,C,H,W], weight [O,C,KH,KW]; "NHWC": x [N,H,W,C], weight
    [KH,KW,C,O]. bias [O]. stride/dilation int or pair; padding int, pair, "same"
    (TF's rule: out = ceil(in / stride), odd pixel at the bottom/right) or "valid".
    """
    check_tensor(x, "conv2d", "x")
    check_tensor(weight, "conv2d", "w")
    pads, mode = padding_arg(padding, "conv2d")
    return call(ops.conv2d, x, weight, bias, pair(stride, "conv2d", "stride"), pads, mode,
                      pair(dilation, "conv2d", "dilation"), layout_arg(layout, "conv2d"))


def _param(v, images: Tensor, op: str, arg: str) -> Tensor:
    """angle / translate as a tensor in images' dtype and device (differentiable if v is)."""
    if isinstance(v, Tensor):
        return v.to(dtype=images.dtype, device=images.device)
    try:
        return torch.as_tensor(v, dtype=images.dtype, device=images.device)
    except (TypeError, ValueError, RuntimeError):
        raise bad(op, arg, f"expected a number, a sequence or a tensor, got {v!r}", TypeError) from None


def rotate(images: Tensor, angle, translate=(0, 0), interpolation: str = "bilinear", fill: str = "zeros",
           fill_value: float = 0.0, layout: str = "NCHW") -> Tensor:
    """Rotate each image by `angle` degrees counter-clockwise about its centre, then shift it by
    translate = (dx, dy) pixels.

    images [N,C,H,W] / [N,H,W,C]; angle a number, 0-d or [N] tensor; translate a pair, [2] or
    [N,2] tensor. Differentiable w.r.t. images, angle and translate. interpolation "bilinear" |
    "nearest"; fill "zeros" | "constant" (with fill_value) | "nearest" | "reflect".
    """
    check_tensor(images, "rotate", "images")
    return call(ops.rotate, images, _param(angle, images, "rotate", "angle"),
                      _param(translate, images, "rotate", "translate"), interpolation, fill, float(fill_value),
                      layout_arg(layout, "rotate"))


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, layout: str = "NCHW") -> Tensor:
    """Max pooling. x [N,C,H,W] / [N,H,W,C]; kernel_size, stride (None = kernel_size) int or pair;
    padding int, pair (padded cells never win), "same" or "valid"."""
    check_tensor(x, "max_pool2d", "x")
    k = pair(kernel_size, "max_pool2d", "kernel_size")
    s = k if stride is None else pair(stride, "max_pool2d", "stride")
    pads, mode = padding_arg(padding, "max_pool2d")
    y, _ = call(ops.max_pool2d, x, k, s, pads, mode, layout_arg(layout, "max_pool2d"))
    return y


def global_avg_pool2d(x: Tensor, layout: str = "NCHW") -> Tensor:
    """Mean over the spatial dims: [N,C,H,W] / [N,H,W,C] -> [N,C]."""
    check_tensor(x, "global_avg_pool2d", "x")
    return call(ops.global_avg_pool2d, x, layout_arg(layout, "global_avg_pool2d"))


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise, any shape."""
    check_tensor(x, "relu", "x")
    return call(ops.relu, x)


def tanh(x: Tensor) -> Tensor:
    """tanh elementwise, any shape."""
    check_tensor(x, "tanh", "x")
    return call(ops.tanh, x)


def softmax(x: Tensor) -> Tensor:
    """Softmax over the last dim, any rank >= 1."""
    check_tensor(x, "softmax", "x")
    return call(ops.softmax, x)


_REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(logits: Tensor, target: Tensor, label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from logits [N,C] (as F.cross_entropy, without weight/ignore_index).

    target: [N] integer class ids, or [N,C] class probabilities (e.g. one-hot) in logits'
    dtype. label_smoothing in [0, 1]. reduction "mean" | "sum" -> 0-d loss, "none" -> [N].
    Differentiable w.r.t. logits only.
    """
    check_tensor(logits, "softmax_cross_entropy", "logits")
    check_tensor(target, "softmax_cross_entropy", "labels")
    if reduction not in _REDUCTIONS:
        raise bad("softmax_cross_entropy", "reduction", f"expected one of {_REDUCTIONS}, got {reduction!r}")
    if target.requires_grad and torch.is_grad_enabled():
        raise bad("softmax_cross_entropy", "labels",
                  "gradients w.r.t. probability targets are not supported; pass target.detach()")
    loss, _ = call(ops.softmax_cross_entropy, logits, target, float(label_smoothing), reduction)
    return loss


def mse_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error of pred and target of the same shape (as F.mse_loss, no broadcasting).
    reduction "mean" | "sum" -> 0-d loss, "none" -> pred's shape."""
    check_tensor(pred, "mse", "pred")
    check_tensor(target, "mse", "target")
    if reduction not in _REDUCTIONS:
        raise bad("mse", "reduction", f"expected one of {_REDUCTIONS}, got {reduction!r}")
    return call(ops.mse, pred, target, reduction)


# ---- GAN ops (issue 16) ----------------------------------------------------------------------
__all__ += ["leaky_relu", "binary_cross_entropy_with_logits", "conv_transpose2d", "batch_norm"]


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise, any shape (as F.leaky_relu)."""
    check_tensor(x, "leaky_relu", "x")
    return call(ops.leaky_relu, x, float(negative_slope))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None, label_smoothing: float = 0.0) -> Tensor:
    """Binary cross-entropy of sigmoid(input) and target (same shape), fused with its gradient
    (as F.binary_cross_entropy_with_logits; weight must be None). pos_weight [C] (the last axis)
    or [1]; label_smoothing (an extension, Keras's rule): target * (1 - s) + s / 2.
    reduction "mean" | "sum" -> 0-d, "none" -> input's shape. Differentiable w.r.t. input only."""
    op = "binary_cross_entropy_with_logits"
    check_tensor(input, op, "logits")
    check_tensor(target, op, "targets")
    if weight is not None:
        raise bad(op, "weight", "per-element weights are not supported (weight must be None)")
    if size_average is not None or reduce is not None:
        raise bad(op, "size_average" if size_average is not None else "reduce",
                  "deprecated legacy argument, use reduction=")
    if reduction not in _REDUCTIONS:
        raise bad(op, "reduction", f"expected one of {_REDUCTIONS}, got {reduction!r}")
    if target.requires_grad and torch.is_grad_enabled():
        raise bad(op, "targets", "gradients w.r.t. targets are not supported; pass target.detach()")
    loss, _ = call(ops.binary_cross_entropy_with_logits, input, target, pos_weight, float(label_smoothing), reduction)
    return loss


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=None, groups: int = 1, dilation=1, layout: str = "NCHW") -> Tensor:
    """2-D transposed convolution (as F.conv_transpose2d; groups must be 1).

    layout "NCHW": x [N,Cin,H,W], weight [Cin,Cout,KH,KW] (torch's); "NHWC": x [N,H,W,Cin], weight
    [KH,KW,Cout,Cin] (Keras's). padding int or pair (torch's), or "same" / "valid" (Keras's output
    sizes); output_padding None (0 with int padding; Keras's default sizes with "same"/"valid"),
    an int or a pair."""
    op = "conv_transpose2d"
    check_tensor(x, op, "x")
    check_tensor(weight, op, "w")
    if groups != 1:
        raise bad(op, "groups", f"only groups=1 is supported, got {groups}")
    pads, mode = padding_arg(padding, op)
    opad = [-1, -1] if output_padding is None else pair(output_padding, op, "output_padding")
    if min(opad) < 0 and output_padding is not None:
        raise bad(op, "output_padding", f"must be >= 0, got {output_padding!r}")
    return call(ops.conv_transpose2d, x, weight, bias, pair(stride, op, "stride"), pads, mode, opad,
                pair(dilation, op, "dilation"), layout_arg(layout, op))


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               layout: str = "NCHW") -> Tensor:
    """Batch normalization (as F.batch_norm): x [N, C] or images [N,C,H,W] (layout "NHWC": [N,H,W,C]).
    training: batch statistics, and running_mean / running_var (if given) updated in place as torch does
    (running = (1 - momentum) * running + momentum * batch, the variance unbiased); else the running
    statistics (no gradient flows in that mode)."""
    op = "batch_norm"
    check_tensor(x, op, "x")
    layout = layout_arg(layout, op)
    if training:
        y, mean, var = call(ops.batch_norm, x, weight, bias, float(eps), layout)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                count = x.numel() // mean.numel()
                nm, nv = K.batch_norm_update_stats(running_mean, running_var, mean, var, float(momentum), count, True)
                running_mean.copy_(nm)
                running_var.copy_(nv)
        return y
    if running_mean is None or running_var is None:
        raise bad(op, "running_mean", "inference (training=False) needs the running statistics")
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        raise bad(op, "training", "no gradient in inference mode; run under torch.no_grad() or train mode")
    return ops.batch_norm_inference(x, weight, bias, running_mean, running_var, float(eps), layout)

# ---- issue 16, LSTM half: sigmoid, embedding, lstm ------------------------------------

__all__ += ["sigmoid", "embedding", "lstm"]


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, any shape."""
    check_tensor(x, "sigmoid", "x")
    return call(ops.sigmoid, x)


def embedding(ids: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """weight [V, D] rows picked by integer ids of any shape S -> S + (D,) (as F.embedding);
    row padding_idx (negative counts from V) gets no gradient."""
    check_tensor(ids, "embedding", "ids")
    check_tensor(weight, "embedding", "weight")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return call(ops.embedding, ids, weight, padding_idx)


def lstm(x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor | None = None, h0: Tensor | None = None,
         c0: Tensor | None = None, batch_first: bool = False, return_sequences: bool = True):
    """One LSTM layer over the whole sequence, in the kernel's layout: x [T,B,I] ([B,T,I] with
    batch_first), w_ih [4H,I], w_hh [4H,H] (gates i, f, g, o), one bias [4H], h0/c0 [B,H].
    Returns (y [T,B,H] / [B,T,H] or None without return_sequences, h_n [B,H], c_n [B,H])."""
    check_tensor(x, "lstm", "x")
    check_tensor(w_ih, "lstm", "w_ih")
    check_tensor(w_hh, "lstm", "w_hh")
    y, hn, cn, _ = call(ops.lstm, x, w_ih, w_hh, bias, h0, c0, bool(batch_first), bool(return_sequences))
    return (y if return_sequences else None), hn, cn
