"""nn.Modules over twincore's ops, with torch.nn's names, constructor arguments and
parameter names (weight, bias), so state_dicts move between them and torch.nn layers of
the same shape. Modules hold parameters, validate arguments and call
`twincore.frontends.torch.functional`; they contain no math.

Images are NCHW, as in torch.nn.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import twincore.kernels as K
from twincore.frontends.torch import functional as tcf
from twincore.frontends.torch._common import bad, layout_arg, pair, padding_arg

__all__ = ["Linear", "Conv2d", "RotationConv2d", "MaxPool2d", "GlobalAvgPool2d", "ReLU", "Tanh", "Softmax",
           "CrossEntropyLoss", "MSELoss"]


def _HWIO(oihw: tuple) -> tuple:
    o, i, kh, kw = oihw
    return (kh, kw, i, o)


def _reset_like_torch(weight: nn.Parameter, bias: nn.Parameter | None, fan_in: int) -> None:
    """torch.nn.Linear / Conv2d's reset_parameters: the same calls, so the same RNG draws."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)


def _reset_in_layout(weight, bias, fan_in: int, layout: str) -> None:
    """torch's initialisation of a conv weight: drawn in torch's [A, B, KH, KW] layout, then,
    for layout "NHWC", stored as Keras's [KH, KW, B, A] (the same draws in either layout)."""
    if layout == "NCHW":
        return _reset_like_torch(weight, bias, fan_in)
    torch_layout = nn.Parameter(torch.empty((weight.shape[3], weight.shape[2], weight.shape[0], weight.shape[1]),
                                            dtype=weight.dtype, device=weight.device))
    _reset_like_torch(torch_layout, bias, fan_in)
    with torch.no_grad():
        weight.copy_(torch_layout.permute(2, 3, 1, 0))


class Linear(nn.Module):
    """y = x @ weight.T + bias; x [*, in_features] -> [*, out_features]; weight [out, in]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise bad("Linear", "in_features" if in_features < 1 else "out_features", "must be >= 1")
        self.in_features, self.out_features = in_features, out_features
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty((out_features, in_features), **kw))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_like_torch(self.weight, self.bias, self.in_features)

    def forward(self, x: Tensor) -> Tensor:
        return tcf.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(nn.Module):
    """2-D convolution. layout "NCHW" (torch's): x [N,in_channels,H,W] -> [N,out_channels,OH,OW],
    weight [out, in, KH, KW]; layout "NHWC" (channels last, TF's): x [N,H,W,in] -> [N,OH,OW,out],
    weight [KH, KW, in, out], initialised with the same draws as NCHW (then permuted).
    padding: int, pair, "same" (TF's rule, any stride) or "valid". groups and padding_mode
    other than torch's defaults are not supported."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None,
                 layout: str = "NCHW"):
        super().__init__()
        self.layout = layout_arg(layout, "conv2d")
        if groups != 1:
            raise bad("conv2d", "groups", f"only groups=1 is supported, got {groups}")
        if padding_mode != "zeros":
            raise bad("conv2d", "padding_mode", f"only 'zeros' is supported, got {padding_mode!r}")
        if in_channels < 1 or out_channels < 1:
            raise bad("conv2d", "in_channels" if in_channels < 1 else "out_channels", "must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = tuple(pair(kernel_size, "conv2d", "kernel_size"))
        self.stride = tuple(pair(stride, "conv2d", "stride"))
        self.dilation = tuple(pair(dilation, "conv2d", "dilation"))
        pads, mode = padding_arg(padding, "conv2d")
        self.padding = mode if mode != "explicit" else tuple(pads)
        self.groups, self.padding_mode = 1, "zeros"
        kw = {"device": device, "dtype": dtype}
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape if layout == "NCHW" else _HWIO(shape), **kw))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        _reset_in_layout(self.weight, self.bias, fan_in, self.layout)

    def forward(self, x: Tensor) -> Tensor:
        return tcf.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.layout)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}"
                + (", layout='NHWC'" if self.layout == "NHWC" else ""))


class RotationConv2d(Conv2d):
    """Random rotation + translation of each input image, then Conv2d (the seed's
    CustomConv2D(filters, kernel_size, rotation_angle=30, translation_range=10)).

    In training mode each sample n of x [N,C,H,W] is rotated by an angle drawn uniformly in
    [-rotation_angle, rotation_angle] degrees and shifted by (dx, dy) drawn uniformly in
    [-translation_range, translation_range] pixels, with torch's RNG on x's device (so
    torch.manual_seed reproduces it); in eval mode it only convolves. Parameters as Conv2d.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, rotation_angle: float = 30.0,
                 translation_range: float = 10.0, stride=1, padding="same", dilation=1, bias: bool = True,
                 interpolation: str = "bilinear", fill: str = "zeros", fill_value: float = 0.0, device=None,
                 dtype=None, layout: str = "NCHW"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias,
                         device=device, dtype=dtype, layout=layout)
        if not rotation_angle >= 0:
            raise bad("RotationConv2d", "rotation_angle", f"must be >= 0, got {rotation_angle!r}")
        if not translation_range >= 0:
            raise bad("RotationConv2d", "translation_range", f"must be >= 0, got {translation_range!r}")
        K.rotate_check_options(interpolation, fill, float(fill_value))  # the core's rule and message
        self.rotation_angle, self.translation_range = float(rotation_angle), float(translation_range)
        self.interpolation, self.fill, self.fill_value = interpolation, fill, float(fill_value)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and (self.rotation_angle > 0 or self.translation_range > 0):
            if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[0] < 1:
                raise bad("rotate", "images", f"expected a non-empty 4-D ({self.layout}) tensor, got "
                          f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
            n, kw = x.shape[0], {"dtype": x.dtype, "device": x.device}
            angle = torch.empty(n, **kw).uniform_(-self.rotation_angle, self.rotation_angle)
            shift = torch.empty(n, 2, **kw).uniform_(-self.translation_range, self.translation_range)
            x = tcf.rotate(x, angle, shift, self.interpolation, self.fill, self.fill_value, self.layout)
        return super().forward(x)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", rotation_angle={self.rotation_angle}, "
                f"translation_range={self.translation_range}")


class MaxPool2d(nn.Module):
    """Max pooling over [N,C,H,W] (layout "NHWC": [N,H,W,C]). dilation, return_indices and
    ceil_mode other than torch's defaults are not supported."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False, layout: str = "NCHW"):
        super().__init__()
        self.layout = layout_arg(layout, "max_pool2d")
        for arg, value, default in (("dilation", dilation, 1), ("return_indices", return_indices, False),
                                    ("ceil_mode", ceil_mode, False)):
            if value not in (default, (default, default)):
                raise bad("max_pool2d", arg, f"only {default!r} is supported, got {value!r}")
        self.kernel_size = tuple(pair(kernel_size, "max_pool2d", "kernel_size"))
        self.stride = self.kernel_size if stride is None else tuple(pair(stride, "max_pool2d", "stride"))
        pads, mode = padding_arg(padding, "max_pool2d")
        self.padding = mode if mode != "explicit" else tuple(pads)
        self.dilation, self.return_indices, self.ceil_mode = 1, False, False

    def forward(self, x: Tensor) -> Tensor:
        return tcf.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.layout)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool2d(nn.Module):
    """Mean over H and W: [N,C,H,W] (layout "NHWC": [N,H,W,C]) -> [N,C] (Keras's
    GlobalAveragePooling2D)."""

    def __init__(self, layout: str = "NCHW"):
        super().__init__()
        self.layout = layout_arg(layout, "global_avg_pool2d")

    def forward(self, x: Tensor) -> Tensor:
        return tcf.global_avg_pool2d(x, self.layout)


class ReLU(nn.Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace  # accepted for torch compatibility; the op always writes a new tensor

    def forward(self, x: Tensor) -> Tensor:
        return tcf.relu(x)


class Tanh(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return tcf.tanh(x)


class Softmax(nn.Module):
    """Softmax over the last dim (dim must be -1 or x.dim() - 1)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        if self.dim not in (-1, x.dim() - 1):
            raise bad("softmax", "dim", f"only the last dim is supported, got dim={self.dim} for rank {x.dim()}")
        return tcf.softmax(x)


def _no_legacy(size_average, reduce, op: str) -> None:
    if size_average is not None or reduce is not None:
        raise bad(op, "size_average" if size_average is not None else "reduce",
                  "deprecated legacy argument, use reduction=")


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy of logits [N,C] and targets [N] (class ids) or [N,C]
    (probabilities). Weight-free: weight must be None; ignore_index is not supported
    (targets must all be valid class ids)."""

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        if weight is not None:
            raise bad("softmax_cross_entropy", "weight", "class weights are not supported (weight must be None)")
        if ignore_index != -100:
            raise bad("softmax_cross_entropy", "ignore_index", "ignore_index is not supported")
        _no_legacy(size_average, reduce, "softmax_cross_entropy")
        if reduction not in ("mean", "sum", "none"):
            raise bad("softmax_cross_entropy", "reduction", f"expected 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise bad("softmax_cross_entropy", "label_smoothing", f"must be in [0, 1], got {label_smoothing!r}")
        self.reduction, self.label_smoothing = reduction, float(label_smoothing)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return tcf.cross_entropy(logits, target, self.label_smoothing, self.reduction)


class MSELoss(nn.Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        _no_legacy(size_average, reduce, "mse")
        if reduction not in ("mean", "sum", "none"):
            raise bad("mse", "reduction", f"expected 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return tcf.mse_loss(pred, target, self.reduction)


# ---- GAN modules (issue 16) --------------------------------------------------------------------
__all__ += ["ConvTranspose2d", "LeakyReLU", "BCEWithLogitsLoss", "BatchNorm2d"]


class ConvTranspose2d(nn.Module):
    """2-D transposed convolution (torch.nn.ConvTranspose2d's arguments and parameters).
    layout "NCHW": x [N,in,H,W] -> [N,out,OH,OW], weight [in, out, KH, KW] (torch's); "NHWC":
    x [N,H,W,in] -> [N,OH,OW,out], weight [KH, KW, out, in] (Keras's), drawn as NCHW then permuted.
    OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1; padding may also
    be "same" / "valid" (Keras's sizes, with output_padding None). groups and padding_mode other than the defaults are refused."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=None,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None, layout: str = "NCHW"):
        super().__init__()
        op = "conv_transpose2d"
        self.layout = layout_arg(layout, op)
        if groups != 1:
            raise bad(op, "groups", f"only groups=1 is supported, got {groups}")
        if padding_mode != "zeros":
            raise bad(op, "padding_mode", f"only 'zeros' is supported, got {padding_mode!r}")
        if in_channels < 1 or out_channels < 1:
            raise bad(op, "in_channels" if in_channels < 1 else "out_channels", "must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = tuple(pair(kernel_size, op, "kernel_size"))
        self.stride = tuple(pair(stride, op, "stride"))
        self.dilation = tuple(pair(dilation, op, "dilation"))
        pads, mode = padding_arg(padding, op)
        self.padding = mode if mode != "explicit" else tuple(pads)
        if output_padding is None and mode == "explicit":
            output_padding = 0  # torch's default; None keeps Keras's sizes for "same" / "valid"
        self.output_padding = None if output_padding is None else tuple(pair(output_padding, op, "output_padding"))
        self.groups, self.padding_mode = 1, "zeros"
        kw = {"device": device, "dtype": dtype}
        shape = (in_channels, out_channels, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape if layout == "NCHW" else (*self.kernel_size, out_channels,
                                                                               in_channels), **kw))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.out_channels * self.kernel_size[0] * self.kernel_size[1]  # torch: weight.size(1) * k
        _reset_in_layout(self.weight, self.bias, fan_in, self.layout)

    def forward(self, x: Tensor) -> Tensor:
        return tcf.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding, 1,
                                    self.dilation, self.layout)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}" + (", layout='NHWC'" if self.layout == "NHWC" else ""))


class LeakyReLU(nn.Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = inplace  # accepted for torch compatibility; the op always writes a new tensor

    def forward(self, x: Tensor) -> Tensor:
        return tcf.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class BCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy from logits, fused with its gradient (torch.nn.BCEWithLogitsLoss;
    weight must be None). pos_weight is a buffer, as in torch (so it is in the state_dict);
    label_smoothing is an extension (Keras's rule)."""

    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight: Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        op = "binary_cross_entropy_with_logits"
        if weight is not None:
            raise bad(op, "weight", "per-element weights are not supported (weight must be None)")
        _no_legacy(size_average, reduce, op)
        if reduction not in ("mean", "sum", "none"):
            raise bad(op, "reduction", f"expected 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise bad(op, "label_smoothing", f"must be in [0, 1], got {label_smoothing!r}")
        self.register_buffer("weight", None)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction, self.label_smoothing = reduction, float(label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return tcf.binary_cross_entropy_with_logits(input, target, reduction=self.reduction,
                                                    pos_weight=self.pos_weight, label_smoothing=self.label_smoothing)


class BatchNorm2d(nn.Module):
    """torch.nn.BatchNorm2d's arguments, parameters (weight, bias) and buffers (running_mean,
    running_var, num_batches_tracked). layout "NHWC" takes [N,H,W,C] (the same statistics per channel).
    momentum=None (cumulative average) is not supported."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, layout: str = "NCHW"):
        super().__init__()
        op = "batch_norm"
        self.layout = layout_arg(layout, op)
        if momentum is None or not 0.0 <= momentum <= 1.0:
            raise bad(op, "momentum", f"expected a number in [0, 1], got {momentum!r}")
        if num_features < 1:
            raise bad(op, "num_features", "must be >= 1")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.affine, self.track_running_stats = affine, track_running_stats
        kw = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **kw))
            self.bias = nn.Parameter(torch.zeros(num_features, **kw))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **kw))
            self.register_buffer("running_var", torch.ones(num_features, **kw))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Tensor) -> Tensor:
        training = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        return tcf.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training, self.momentum, self.eps,
                              self.layout)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}" + (", layout='NHWC'" if self.layout == "NHWC" else ""))

# ---- issue 16, LSTM half: Sigmoid, Embedding, LSTM ------------------------------------

__all__ += ["Sigmoid", "Embedding", "LSTM"]


class Sigmoid(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return tcf.sigmoid(x)


class Embedding(nn.Module):
    """torch.nn.Embedding's arguments and state_dict ("weight" [num_embeddings, embedding_dim],
    N(0, 1) initialisation, padding_idx row zeroed and never updated by its gradient).
    max_norm, scale_grad_by_freq and sparse are not supported."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise bad("embedding", "num_embeddings" if num_embeddings < 1 else "embedding_dim", "must be >= 1")
        for arg, v in (("max_norm", max_norm is not None), ("scale_grad_by_freq", scale_grad_by_freq),
                       ("sparse", sparse)):
            if v:
                raise bad("embedding", arg, "is not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise bad("embedding", "padding_idx", f"must be in [-{num_embeddings}, {num_embeddings}), "
                          f"got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        kw = {"device": device, "dtype": dtype}
        if _weight is None:
            self.weight = nn.Parameter(torch.empty((num_embeddings, embedding_dim), **kw), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = nn.Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)  # as torch.nn.Embedding: the same draws
        if self.padding_idx is not None:
            with torch.no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, ids: Tensor) -> Tensor:
        return tcf.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class LSTM(nn.Module):
    """torch.nn.LSTM for one unidirectional layer: the same arguments, parameter names
    (weight_ih_l0 [4H, I], weight_hh_l0 [4H, H], bias_ih_l0, bias_hh_l0 [4H]; gates i, f, g, o),
    initialisation (the same draws) and return value (output, (h_n, c_n)) with h_n, c_n
    [1, B, H]; state_dicts move between the two. num_layers > 1, bidirectional, proj_size and
    dropout are not supported.

    merged_bias=True (not in torch): one bias "bias_l0" [4H] instead of two, as the kernel and
    Keras's LSTM have it (torch's two biases only ever act as their sum); the workloads use it so
    that torch, Keras and the tape train the same parameters."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, merged_bias: bool = False):
        super().__init__()
        for arg, got, want in (("num_layers", num_layers, 1), ("bidirectional", bidirectional, False),
                               ("proj_size", proj_size, 0), ("dropout", dropout, 0)):
            if got != want:
                raise bad("lstm", arg, f"only {arg}={want} is supported (one unidirectional layer), got {got!r}")
        if input_size < 1 or hidden_size < 1:
            raise bad("lstm", "input_size" if input_size < 1 else "hidden_size", "must be >= 1")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, 1
        self.bias, self.batch_first, self.merged_bias = bias, batch_first, merged_bias
        self.dropout, self.bidirectional, self.proj_size = 0.0, False, 0
        kw = {"device": device, "dtype": dtype}
        g = 4 * hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty((g, input_size), **kw))
        self.weight_hh_l0 = nn.Parameter(torch.empty((g, hidden_size), **kw))
        if bias and merged_bias:
            self.bias_l0 = nn.Parameter(torch.empty(g, **kw))
        elif bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(g, **kw))
            self.bias_hh_l0 = nn.Parameter(torch.empty(g, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():  # torch.nn.LSTM's loop: same order, same draws
            nn.init.uniform_(w, -stdv, stdv)

    def _bias(self) -> Tensor | None:
        if not self.bias:
            return None
        return self.bias_l0 if self.merged_bias else self.bias_ih_l0 + self.bias_hh_l0

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        if not isinstance(input, Tensor) or input.dim() not in (2, 3):
            raise bad("lstm", "x", "expected a [T, B, I] / [B, T, I] (batch_first) or unbatched [T, I] tensor, "
                      f"got {getattr(input, 'shape', type(input).__name__)}")
        if input.shape[-1] != self.input_size:
            raise bad("lstm", "x", f"expected input_size={self.input_size} features in the last dim, "
                      f"got shape {tuple(input.shape)}")
        unbatched = input.dim() == 2
        x = input.unsqueeze(0 if self.batch_first else 1) if unbatched else input
        h0 = c0 = None
        if hx is not None:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise bad("lstm", "hx", "expected a pair (h_0, c_0)", TypeError)
            want = (1, self.hidden_size) if unbatched else (1, x.shape[0 if self.batch_first else 1], self.hidden_size)
            for name, s in zip(("h0", "c0"), hx):
                if not isinstance(s, Tensor) or tuple(s.shape) != want:
                    raise bad("lstm", name, f"expected shape {want}, got {getattr(s, 'shape', type(s).__name__)}")
            h0, c0 = (s.reshape(s.shape[-2] if not unbatched else 1, self.hidden_size) for s in hx)
        y, hn, cn = tcf.lstm(x, self.weight_ih_l0, self.weight_hh_l0, self._bias(), h0, c0, self.batch_first)
        if unbatched:
            return y.squeeze(0 if self.batch_first else 1), (hn, cn)
        return y, (hn.unsqueeze(0), cn.unsqueeze(0))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        s += ", bias=False" if not self.bias else (", merged_bias=True" if self.merged_bias else "")
        return s + (", batch_first=True" if self.batch_first else "")
