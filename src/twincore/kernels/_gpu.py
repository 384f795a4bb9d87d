"""The host side of every op on CUDA arrays: validation (the CPU bindings' rules and
messages, `twincore.<op>: argument '<arg>': ...`), output allocation through the caller's
framework (torch.empty on the device, cupy.empty, ...), grid sizes, and the launches of the
kernels in kernels/cuda/*.cu. One implementation for both launchers ("cuda": compiled into
_core by nvcc; "cupy": the same files through NVRTC), chosen by twincore.kernels._dispatch.

Differences from the CPU kernels, because a check would need a device->host copy and a
sync: a class label outside [0, C) gives a NaN loss row instead of a ValueError; rotate
does not check that angle/translate are finite (NaN in gives NaN out).
float16 and bfloat16 are accepted here (math in float32); float64 math is in double.
TF32 for float32 matmul/conv2d is used only when allowed: set_allow_tf32(True), or torch's
torch.backends.cuda.matmul.allow_tf32 for torch tensors.
"""

from __future__ import annotations

import math
from typing import Any

from twincore.kernels import _dispatch as D
from twincore.kernels._array import prepare, to_core

OPS = ("relu", "relu_backward", "tanh", "tanh_backward", "softmax", "softmax_backward",
       "softmax_cross_entropy", "mse", "mse_backward", "max_pool2d", "max_pool2d_backward",
       "global_avg_pool2d", "global_avg_pool2d_backward", "sgd_step", "adam_step", "matmul",
       "matmul_backward", "conv2d", "conv2d_backward", "rotate", "rotate_backward")

_SFX = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16"}
_SIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8}
BLOCK = 256
_allow_tf32 = False


def set_allow_tf32(allow: bool) -> None:
    """Let float32 matmul / conv2d on the GPU use TF32 tensor cores (10-bit mantissa inputs)."""
    global _allow_tf32
    _allow_tf32 = bool(allow)


def _err(op, arg, msg, cls=ValueError):
    raise cls(f"twincore.{op}: argument '{arg}': {msg}")


def _shape_str(s) -> str:
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


class Call:
    """One op call on the GPU: launcher, the caller's kind/stream/device, checks, allocation."""

    def __init__(self, backend: str, op: str, first: Any, name: str, copy: bool = True):
        self.op, self.lf, self.name = op, D.launcher(backend), name
        if copy:  # non-contiguous torch / CuPy inputs are copied once, as on the CPU path
            first, self.kind = prepare(first)
        else:  # in-place ops (optimizer steps) write into the caller's array itself
            self.kind = _kind_of(first)
            first = first.detach() if type(first).__module__.startswith("torch") else first
        self.first = self.input(first, name)
        self.stream = D.stream_for(first)
        self.device = self.first.device[1]
        self.keep: list = []

    # -- checks (the rules of cpp/core/tensor.cc) --
    def input(self, x, name: str, like: D.Info | None = None) -> D.Info:
        if x is None:
            _err(self.op, name, "expected an array, got None", TypeError)
        if not (hasattr(x, "__dlpack__") or type(x).__module__.startswith(("torch", "cupy", "numpy"))):
            _err(self.op, name, f"expected an array that supports DLPack (numpy, torch, cupy), got {type(x).__name__}",
                 TypeError)
        i = D.info(x)
        if like is not None and i.device != like.device:
            _err(self.op, name, f"device mix: tensor is on {_dev(i)} but the first input is on {_dev(like)}")
        if like is None and i.device[0] not in (2, 13):
            _err(self.op, name, "expected a CUDA tensor")
        return i

    def float_input(self, x, name: str, like: D.Info | None = None) -> D.Info:
        i = self.input(x, name, like)
        if i.dtype not in _SFX:
            _err(self.op, name, "expected a floating-point tensor (float32 or float64, float16, bfloat16), got "
                 + i.dtype, TypeError)
        if i.numel == 0:
            _err(self.op, name, f"empty tensor of shape {_shape_str(i.shape)}")
        if not i.contiguous():
            _err(self.op, name, "expected a contiguous (row-major) tensor; got strides that are not "
                 "(call .contiguous() / np.ascontiguousarray first)")
        if like is not None and i.dtype != like.dtype:
            _err(self.op, name, f"dtype {i.dtype} does not match the first input's {like.dtype}", TypeError)
        return i

    def shape(self, i: D.Info, name: str, shape) -> None:
        if tuple(i.shape) != tuple(shape):
            _err(self.op, name, f"expected shape {_shape_str(shape)}, got {_shape_str(i.shape)}")

    def rank(self, i: D.Info, name: str, lo: int, hi: int) -> None:
        if not lo <= i.ndim <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            _err(self.op, name, f"expected rank {want}, got rank {i.ndim} with shape {_shape_str(i.shape)}")

    def choose(self, name: str, value, allowed) -> int:
        if not isinstance(value, str):
            _err(self.op, name, f"expected a string, got {value!r}", TypeError)
        v = value if name == "layout" else value.lower()
        if v not in allowed:
            _err(self.op, name, f"unknown value '{value}'; expected one of " + ", ".join(f"'{a}'" for a in allowed))
        return allowed.index(v)

    # -- memory and launches --
    def alloc(self, shape, dtype: str):
        obj = self.kind.alloc(tuple(int(s) for s in shape), dtype)
        return obj, D.info(obj)

    def scratch(self, n: int, dtype: str = "float64") -> D.Info:
        obj, i = self.alloc((max(int(n), 1),), dtype)
        self.keep.append(obj)
        return i

    def zero(self, i: D.Info) -> None:
        self.lf.memset0(i.ptr, i.numel * _SIZE[i.dtype], self.stream, self.device)

    def launch(self, file: str, kernel: str, grid, args, block=BLOCK) -> None:
        g = tuple(grid) + (1,) * (3 - len(tuple(grid)))
        b = (block, 1, 1) if isinstance(block, int) else tuple(block)
        self.lf.launch(file, kernel, g, b, args, self.stream, self.device)

    def out(self, obj):
        return self.kind.wrap(obj)


def _kind_of(x):
    from twincore.kernels import _array

    mod = type(x).__module__
    return _array._torch_kind(x) if mod.startswith("torch") else _array._cupy_kind() if mod.startswith("cupy") \
        else _array.NUMPY


def _dev(i: D.Info) -> str:
    return ("cuda" if i.device[0] in (2, 13) else "cpu") + f":{i.device[1]}"


def _blocks(n: int, per: int = BLOCK, cap: int = 65535 * 16) -> int:
    return max(1, min(-(-int(n) // per), cap))


def P(i: D.Info | None):
    return ("p", 0 if i is None else i.ptr)


def I(v):  # noqa: E743
    return ("i", int(v))


def F(v):
    return ("d", float(v))


def _sfx(i: D.Info) -> str:
    return _SFX[i.dtype]


# ---- activations -----------------------------------------------------------------------

def _unary(backend, op, kern, x):
    c = Call(backend, op, x, "x")
    xi = c.first = c.float_input(c.first.obj, "x")
    y, yi = c.alloc(xi.shape, xi.dtype)
    c.launch("activations.cu", f"{kern}_{_sfx(xi)}", (_blocks(xi.numel),), [P(xi), P(yi), I(xi.numel)])
    return c.out(y)


def _unary_backward(backend, op, kern, grad, y):
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    yi = c.float_input(to_core(y), "y", gi)
    c.shape(yi, "y", gi.shape)
    dx, di = c.alloc(gi.shape, gi.dtype)
    c.launch("activations.cu", f"{kern}_{_sfx(gi)}", (_blocks(gi.numel),), [P(gi), P(yi), P(di), I(gi.numel)])
    return c.out(dx)


def relu(backend, x):
    return _unary(backend, "relu", "relu", x)


def tanh(backend, x):
    return _unary(backend, "tanh", "tanh", x)


def relu_backward(backend, grad, y):
    return _unary_backward(backend, "relu_backward", "relu_backward", grad, y)


def tanh_backward(backend, grad, y):
    return _unary_backward(backend, "tanh_backward", "tanh_backward", grad, y)


# ---- softmax / losses ------------------------------------------------------------------

def _row_block(C: int) -> int:
    return 128 if C <= 512 else 256 if C <= 4096 else 512


def softmax(backend, x):
    c = Call(backend, "softmax", x, "x")
    xi = c.float_input(c.first.obj, "x")
    c.rank(xi, "x", 1, 8)
    C = xi.shape[-1]
    R = xi.numel // C
    y, yi = c.alloc(xi.shape, xi.dtype)
    c.launch("softmax.cu", f"softmax_{_sfx(xi)}", (min(R, 65535 * 4),), [P(xi), P(yi), I(R), I(C)], _row_block(C))
    return c.out(y)


def softmax_backward(backend, grad, y):
    c = Call(backend, "softmax_backward", grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    yi = c.float_input(to_core(y), "y", gi)
    c.shape(yi, "y", gi.shape)
    C = gi.shape[-1] if gi.ndim else 1
    R = gi.numel // C
    dx, di = c.alloc(gi.shape, gi.dtype)
    c.launch("softmax.cu", f"softmax_backward_{_sfx(gi)}", (min(R, 65535 * 4),),
             [P(gi), P(yi), P(di), I(R), I(C)], _row_block(C))
    return c.out(dx)


def softmax_cross_entropy(backend, logits, labels, label_smoothing: float = 0.0, reduction: str = "mean"):
    op = "softmax_cross_entropy"
    c = Call(backend, op, logits, "logits")
    xi = c.float_input(c.first.obj, "logits")
    c.rank(xi, "logits", 2, 2)
    N, C = xi.shape
    li = c.input(to_core(labels), "labels", xi)
    if li.numel == 0:
        _err(op, "labels", f"empty tensor of shape {_shape_str(li.shape)}")
    if not li.contiguous():
        _err(op, "labels", "expected a contiguous (row-major) tensor")
    if li.dtype in ("int32", "int64"):
        c.shape(li, "labels", (N,))
        kind = "i32" if li.dtype == "int32" else "i64"
    elif li.dtype == xi.dtype:
        c.shape(li, "labels", (N, C))
        kind = "prob"
    else:
        _err(op, "labels", f"expected int32/int64 class ids or probabilities of the logits' dtype {xi.dtype}, "
             f"got {li.dtype}", TypeError)
    s = float(label_smoothing)
    if not 0.0 <= s <= 1.0:
        _err(op, "label_smoothing", f"expected a value in [0, 1], got {label_smoothing}")
    red = c.choose("reduction", reduction, ["mean", "sum", "none"])
    dl, dli = c.alloc((N, C), xi.dtype)
    sfx = _sfx(xi)
    block = _row_block(C)
    if red == 2:
        loss, lo = c.alloc((N,), xi.dtype)
        c.launch("softmax_cross_entropy.cu", f"{op}_{sfx}_{kind}", (min(N, 65535 * 4),),
                 [P(xi), P(li), I(N), I(C), F(s), F(1.0), P(lo), P(None), P(dli)], block)
    else:
        scale = 1.0 / N if red == 0 else 1.0
        part = c.scratch(N)
        loss, lo = c.alloc((), xi.dtype)
        c.launch("softmax_cross_entropy.cu", f"{op}_{sfx}_{kind}", (min(N, 65535 * 4),),
                 [P(xi), P(li), I(N), I(C), F(s), F(scale), P(None), P(part), P(dli)], block)
        c.launch("softmax_cross_entropy.cu", f"{op}_finish_{sfx}", (1,), [P(part), I(N), F(scale), P(lo)])
    return c.out((loss, dl))


def mse(backend, pred, target, reduction: str = "mean"):
    c = Call(backend, "mse", pred, "pred")
    pi = c.float_input(c.first.obj, "pred")
    ti = c.float_input(to_core(target), "target", pi)
    c.shape(ti, "target", pi.shape)
    red = c.choose("reduction", reduction, ["mean", "sum", "none"])
    n, sfx = pi.numel, _sfx(pi)
    if red == 2:
        out, oi = c.alloc(pi.shape, pi.dtype)
        c.launch("mse.cu", f"mse_none_{sfx}", (_blocks(n),), [P(pi), P(ti), P(oi), I(n)])
    else:
        nb = _blocks(n, cap=1024)
        part = c.scratch(nb)
        out, oi = c.alloc((), pi.dtype)
        c.launch("mse.cu", f"mse_partial_{sfx}", (nb,), [P(pi), P(ti), P(part), I(n)])
        c.launch("mse.cu", f"mse_finish_{sfx}", (1,), [P(part), I(nb), F(1.0 / n if red == 0 else 1.0), P(oi)])
    return c.out(out)


def mse_backward(backend, pred, target, grad=None, reduction: str = "mean"):
    c = Call(backend, "mse_backward", pred, "pred")
    pi = c.float_input(c.first.obj, "pred")
    ti = c.float_input(to_core(target), "target", pi)
    c.shape(ti, "target", pi.shape)
    red = c.choose("reduction", reduction, ["mean", "sum", "none"])
    gi, gmode = None, 0
    if isinstance(grad, (int, float)) and not isinstance(grad, bool):
        g0 = float(grad)  # a Python scalar: folded into the scale
    else:
        g0 = 1.0
        if grad is not None:
            gi = c.float_input(to_core(grad), "grad", pi)
            if red == 2:
                c.shape(gi, "grad", pi.shape)
                gmode = 2
            else:
                if gi.numel != 1:
                    _err("mse_backward", "grad", f"expected a scalar (0-d) for reduction '{reduction}', "
                         f"got shape {_shape_str(gi.shape)}")
                gmode = 1
    scale = g0 / pi.numel if red == 0 else g0
    dp, di = c.alloc(pi.shape, pi.dtype)
    c.launch("mse.cu", f"mse_backward_{_sfx(pi)}", (_blocks(pi.numel),),
             [P(pi), P(ti), P(gi), I(gmode), F(scale), P(di), I(pi.numel)])
    return c.out(dp)


# ---- pooling ---------------------------------------------------------------------------

def _pair(op, name, v):
    if isinstance(v, bool):
        _err(op, name, f"expected an int or a pair of ints, got {v!r}", TypeError)
    if isinstance(v, int):
        return int(v), int(v)
    try:
        a, b = v
        if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
            return int(a), int(b)
    except (TypeError, ValueError):
        pass
    _err(op, name, f"expected an int or a pair of ints, got {v!r}", TypeError)


def window(op, kernel_arg, ih, iw, k, s, d, padding):
    """cpp/core/geometry.cc's make_window: (oh, ow, pad_top, pad_left)."""
    kh, kw = k
    sh, sw = s
    dh, dw = d
    if kh < 1 or kw < 1:
        _err(op, kernel_arg, f"kernel size must be >= 1, got ({kh}, {kw})")
    if sh < 1 or sw < 1:
        _err(op, "stride", f"must be >= 1, got ({sh}, {sw})")
    if dh < 1 or dw < 1:
        _err(op, "dilation", f"must be >= 1, got ({dh}, {dw})")
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("same", "valid"):
            _err(op, "padding", f"unknown value '{padding}'; expected one of 'same', 'valid'")
        if mode == "same":
            def same(n, k_, s_, d_):
                out = (n + s_ - 1) // s_
                total = max((out - 1) * s_ + (k_ - 1) * d_ + 1 - n, 0)
                return out, total // 2
            oh, pt = same(ih, kh, sh, dh)
            ow, pl = same(iw, kw, sw, dw)
            return oh, ow, pt, pl
        ph = pw = 0
    else:
        ph, pw = _pair(op, "padding", padding)
        if ph < 0 or pw < 0:
            _err(op, "padding", f"must be >= 0, got ({ph}, {pw})")
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if ekh > ih + 2 * ph or ekw > iw + 2 * pw:
        _err(op, kernel_arg, f"the (dilated) kernel {ekh}x{ekw} is larger than the padded input "
             f"{ih + 2 * ph}x{iw + 2 * pw}")
    return (ih + 2 * ph - ekh) // sh + 1, (iw + 2 * pw - ekw) // sw + 1, ph, pw


def _nchw(shape, nhwc):
    """(N, C, H, W) of a 4-d shape in the layout."""
    return (shape[0], shape[3], shape[1], shape[2]) if nhwc else tuple(shape)


def _layout_shape(N, C, H, W, nhwc):
    return (N, H, W, C) if nhwc else (N, C, H, W)


def max_pool2d(backend, x, kernel_size=2, stride=None, padding=0, layout: str = "NCHW",
               return_indices: bool = False):
    op = "max_pool2d"
    c = Call(backend, op, x, "x")
    xi = c.float_input(c.first.obj, "x")
    c.rank(xi, "x", 4, 4)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    N, C, H, W = _nchw(xi.shape, nhwc)
    k = _pair(op, "kernel_size", kernel_size)
    s = k if stride is None else _pair(op, "stride", stride)
    OH, OW, pt, pl = window(op, "kernel_size", H, W, k, s, (1, 1), padding)
    if not isinstance(padding, str) and (pt > k[0] // 2 or pl > k[1] // 2):
        _err(op, "padding", f"must be at most half the kernel size ({k[0] // 2}, {k[1] // 2}), got ({pt}, {pl})")
    shape = _layout_shape(N, C, OH, OW, nhwc)
    y, yi = c.alloc(shape, xi.dtype)
    idx, ii = c.alloc(shape, "int64") if return_indices else (None, None)
    c.launch("pooling.cu", f"max_pool2d_{_sfx(xi)}", (_blocks(yi.numel),),
             [P(xi), P(yi), P(ii), I(N), I(C), I(H), I(W), I(OH), I(OW), I(k[0]), I(k[1]), I(s[0]), I(s[1]),
              I(pt), I(pl), I(nhwc)])
    return c.out((y, idx)) if return_indices else c.out(y)


def max_pool2d_backward(backend, grad, indices, x_shape, layout: str = "NCHW", kernel_size=None, stride=None,
                        padding=None):
    """As the CPU op. Optional kernel_size/stride/padding (max_pool2d's) select the
    deterministic gather kernel; without them grads are scattered by atomicAdd."""
    op = "max_pool2d_backward"
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    c.rank(gi, "grad", 4, 4)
    ii = c.input(to_core(indices), "indices", gi)
    if ii.dtype != "int64":
        _err(op, "indices", f"expected int64, got {ii.dtype}", TypeError)
    c.shape(ii, "indices", gi.shape)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    xs = tuple(int(v) for v in x_shape)
    if len(xs) != 4:
        _err(op, "x_shape", f"expected 4 dimensions, got {xs}")
    N, C, H, W = _nchw(xs, nhwc)
    gN, gC, OH, OW = _nchw(gi.shape, nhwc)
    if (gN, gC) != (N, C):
        _err(op, "grad", f"batch/channels {gN, gC} do not match x_shape's {N, C}")
    dx, di = c.alloc(xs, gi.dtype)
    sfx = _sfx(gi)
    if kernel_size is None:
        # The window is unknown: scatter each grad to its argmax (atomicAdd; deterministic
        # when windows do not overlap, the usual case), in float/double for f16/bf16.
        direct = gi.dtype in ("float32", "float64")
        acc = di if direct else c.scratch(di.numel, "float32")
        c.zero(acc)
        c.launch("pooling.cu", f"max_pool2d_backward_scatter_{sfx}", (_blocks(gi.numel),),
                 [P(gi), P(ii), P(acc), I(N), I(C), I(H), I(W), I(OH), I(OW), I(nhwc)])
        if not direct:
            c.launch("pooling.cu", f"max_pool2d_backward_cast_{sfx}", (_blocks(di.numel),),
                     [P(acc), P(di), I(di.numel)])
        return c.out(dx)
    # With the window: the gather form (deterministic whatever the overlap).
    k = _pair(op, "kernel_size", kernel_size)
    s = k if stride is None else _pair(op, "stride", stride)
    _, _, pt, pl = window(op, "kernel_size", H, W, k, s, (1, 1), 0 if padding is None else padding)
    c.launch("pooling.cu", f"max_pool2d_backward_{sfx}", (_blocks(di.numel),),
             [P(gi), P(ii), P(di), I(N), I(C), I(H), I(W), I(OH), I(OW), I(k[0]), I(k[1]), I(s[0]), I(s[1]),
              I(pt), I(pl), I(nhwc)])
    return c.out(dx)


def global_avg_pool2d(backend, x, layout: str = "NCHW"):
    c = Call(backend, "global_avg_pool2d", x, "x")
    xi = c.float_input(c.first.obj, "x")
    c.rank(xi, "x", 4, 4)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    N, C, H, W = _nchw(xi.shape, nhwc)
    y, yi = c.alloc((N, C), xi.dtype)
    work = N * C * (1 if nhwc else 32)
    c.launch("pooling.cu", f"global_avg_pool2d_{_sfx(xi)}", (_blocks(work),),
             [P(xi), P(yi), I(N), I(C), I(H * W), I(nhwc)])
    return c.out(y)


def global_avg_pool2d_backward(backend, grad, x_shape, layout: str = "NCHW"):
    op = "global_avg_pool2d_backward"
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    c.rank(gi, "grad", 2, 2)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    xs = tuple(int(v) for v in x_shape)
    if len(xs) != 4 or min(xs) < 1:
        _err(op, "x_shape", f"expected 4 positive dimensions, got {xs}")
    N, C, H, W = _nchw(xs, nhwc)
    c.shape(gi, "grad", (N, C))
    dx, di = c.alloc(xs, gi.dtype)
    c.launch("pooling.cu", f"global_avg_pool2d_backward_{_sfx(gi)}", (_blocks(di.numel),),
             [P(gi), P(di), I(N), I(C), I(H * W), I(nhwc)])
    return c.out(dx)


# ---- optimizer steps (in place) --------------------------------------------------------

def _state(c: Call, x, name: str, param: D.Info) -> D.Info:
    i = c.float_input(x, name, param)
    c.shape(i, name, param.shape)
    return i


def sgd_step(backend, param, grad, momentum_buf=None, lr: float = 0.01, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
    op = "sgd_step"
    c = Call(backend, op, param, "param", copy=False)
    p = c.float_input(param, "param")
    g = _state(c, to_core(grad), "grad", p)
    b = _state(c, momentum_buf, "momentum_buf", p) if momentum_buf is not None else None
    if not lr >= 0:
        _err(op, "lr", f"must be >= 0, got {lr}")
    if not momentum >= 0:
        _err(op, "momentum", f"must be >= 0, got {momentum}")
    if not math.isfinite(dampening):
        _err(op, "dampening", f"must be finite, got {dampening}")
    if not weight_decay >= 0:
        _err(op, "weight_decay", f"must be >= 0, got {weight_decay}")
    if nesterov and (momentum <= 0 or dampening != 0):
        _err(op, "nesterov", "needs momentum > 0 and dampening = 0 (as torch.optim.SGD)")
    if momentum != 0 and b is None:
        _err(op, "momentum_buf", "momentum != 0 needs a momentum buffer")
    mode = 3 * (weight_decay != 0.0) + (0 if momentum == 0.0 else 2 if nesterov else 1)
    c.launch("optim.cu", f"sgd_step_{_sfx(p)}", (_blocks(p.numel),),
             [P(p), P(g), P(b), I(p.numel), I(mode), F(weight_decay), F(momentum), F(1.0 - dampening), F(-lr)])


def adam_step(backend, param, grad, m, v, step: int, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
              flavor: str = "torch") -> None:
    import numpy as np

    op = "adam_step"
    c = Call(backend, op, param, "param", copy=False)
    p = c.float_input(param, "param")
    g = _state(c, to_core(grad), "grad", p)
    mi = _state(c, m, "m", p)
    vi = _state(c, v, "v", p)
    fl = c.choose("flavor", flavor, ["torch", "keras"])
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        _err(op, "step", f"expected an int, got {step!r}", TypeError)
    if step < 1:
        _err(op, "step", f"must be >= 1 (1-based, after the increment), got {step}")
    for name, val, ok in (("lr", lr, lr >= 0), ("beta1", beta1, 0 <= beta1 < 1), ("beta2", beta2, 0 <= beta2 < 1),
                          ("eps", eps, eps >= 0), ("weight_decay", weight_decay, weight_decay >= 0)):
        if not ok:
            _err(op, name, f"must be {'in [0, 1)' if name.startswith('beta') else '>= 0'}, got {val}")
    wd_mode = 0 if weight_decay == 0.0 else 2 if decoupled_weight_decay else 1
    t = float(step)
    # The constants of cpp/cpu/optim.cc, in the same precision.
    w = 1.0 - beta1
    decay = 1.0 - lr * weight_decay
    bc2 = math.sqrt(1.0 - beta2 ** t)
    neg_step = -(lr / (1.0 - beta1 ** t))
    acc = np.float64 if p.dtype == "float64" else np.float32
    f32 = lambda d: acc(np.float32(d))  # noqa: E731  (Keras rounds through float32)
    klr = f32(lr)
    b1p, b2p = f32(beta1) ** acc(t), f32(beta2) ** acc(t)
    alpha = klr * np.sqrt(acc(1) - b2p) / (acc(1) - b1p)
    c.launch("optim.cu", f"adam_step_{_sfx(p)}", (_blocks(p.numel),),
             [P(p), P(g), P(mi), P(vi), I(p.numel), I(fl), I(wd_mode), F(weight_decay), F(decay),
              F(f32(weight_decay)), F(klr), I(w < 0.5), F(w), F(beta2), F(1.0 - beta2), F(bc2), F(eps),
              F(neg_step), F(1.0 - beta1), F(alpha)])


# ---- matmul ----------------------------------------------------------------------------

def _tf32_for(x_obj, dtype: str) -> bool:
    if dtype != "float32":
        return False
    if _allow_tf32:
        return True
    if type(x_obj).__module__.startswith("torch"):
        import torch

        return bool(torch.backends.cuda.matmul.allow_tf32)
    return False


def _tile(dtype: str, tf32: bool) -> int:
    return 64 if dtype == "float64" or (dtype == "float32" and not tf32) else 128


def _gemm(c: Call, file, kernel, M, N, Z, dtype, tf32, args):
    t = _tile(dtype, tf32)
    if -(-N // t) > 65535 or Z > 65535:  # grid y / z limits (rows go on x, up to 2^31 - 1)
        _err(c.op, c.name, f"too large for the GPU GEMM grid: {-(-N // t)} column tiles (N = {N}) and {Z} "
             "batches; at most 65535 each")
    c.launch(file, kernel, (-(-M // t), -(-N // t), Z), args)


def _matmul_dims(op, c: Call, ai: D.Info, bi: D.Info, ta: bool, tb: bool):
    c.rank(ai, "a", 2, 3)
    c.rank(bi, "b", 2, 3)
    if bi.ndim == 3 and ai.ndim != 3:
        _err(op, "b", f"a 3-d b needs a 3-d a, got a of shape {_shape_str(ai.shape)}")
    B = ai.shape[0] if ai.ndim == 3 else 1
    M, K = (ai.shape[-1], ai.shape[-2]) if ta else (ai.shape[-2], ai.shape[-1])
    Kb, N = (bi.shape[-1], bi.shape[-2]) if tb else (bi.shape[-2], bi.shape[-1])
    if bi.ndim == 3 and bi.shape[0] != B:
        _err(op, "b", f"batch {bi.shape[0]} does not match a's batch {B}")
    if Kb != K:
        _err(op, "b", f"inner dimensions differ: op(a) is {M}x{K}, op(b) is {Kb}x{N}")
    return B, M, N, K


def _strides(rows, cols, trans):
    """(s0, s1) of the logical (row, col) element of a row-major matrix stored as
    [rows, cols], or as [cols, rows] when trans."""
    return (1, rows) if trans else (cols, 1)


def matmul(backend, a, b, bias=None, trans_a: bool = False, trans_b: bool = False):
    op = "matmul"
    c = Call(backend, op, a, "a")
    ai = c.float_input(c.first.obj, "a")
    bi = c.float_input(to_core(b), "b", ai)
    B, M, N, K = _matmul_dims(op, c, ai, bi, bool(trans_a), bool(trans_b))
    zi = None
    if bias is not None:
        zi = c.float_input(to_core(bias), "bias", ai)
        c.shape(zi, "bias", (N,))
    out_shape = (B, M, N) if ai.ndim == 3 else (M, N)
    y, yi = c.alloc(out_shape, ai.dtype)
    tf32 = _tf32_for(c.first.obj, ai.dtype)
    sa0, sa1 = _strides(M, K, trans_a)
    sb0, sb1 = _strides(K, N, trans_b)
    _gemm(c, "matmul.cu", f"matmul_{_sfx(ai)}", M, N, B, ai.dtype, tf32,
          [P(ai), P(bi), P(yi), P(zi), I(M), I(N), I(K), I(sa0), I(sa1), I(M * K), I(0), I(sb0), I(sb1),
           I(K * N if bi.ndim == 3 else 0), I(0), I(1), I(N), I(M * N), I(0), I(0), I(tf32)])
    return c.out(y)


def matmul_backward(backend, grad, a, b, trans_a: bool = False, trans_b: bool = False, need_a: bool = True,
                    need_b: bool = True, need_bias: bool = False):
    """dA = G . op(B)^T (transposed back when trans_a); dB = op(A)^T . G (summed over the
    batch inside the GEMM when b is shared); dbias = column sums of G."""
    op = "matmul_backward"
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    ai = c.float_input(to_core(a), "a", gi)
    bi = c.float_input(to_core(b), "b", gi)
    ta, tb = bool(trans_a), bool(trans_b)
    B, M, N, K = _matmul_dims(op, c, ai, bi, ta, tb)
    c.shape(gi, "grad", (B, M, N) if ai.ndim == 3 else (M, N))
    tf32 = _tf32_for(c.first.obj, gi.dtype)
    sfx = _sfx(gi)
    sb0, sb1 = _strides(K, N, tb)   # op(B) (k, n)
    sa0, sa1 = _strides(M, K, ta)   # op(A) (m, k)
    sbz = K * N if bi.ndim == 3 else 0
    da = db = dz = None
    if need_a:
        da, dai = c.alloc(ai.shape, gi.dtype)
        # dop(A) [M,K] = G [M,N] . op(B)^T; stored transposed when trans_a: compute
        # dA^T = op(B) . G^T [K, M] instead.
        if not ta:
            _gemm(c, "matmul.cu", f"matmul_{sfx}", M, K, B, gi.dtype, tf32,
                  [P(gi), P(bi), P(dai), P(None), I(M), I(K), I(N), I(N), I(1), I(M * N), I(0), I(sb1), I(sb0),
                   I(sbz), I(0), I(1), I(K), I(M * K), I(0), I(0), I(tf32)])
        else:
            _gemm(c, "matmul.cu", f"matmul_{sfx}", K, M, B, gi.dtype, tf32,
                  [P(bi), P(gi), P(dai), P(None), I(K), I(M), I(N), I(sb0), I(sb1), I(sbz), I(0), I(1), I(N),
                   I(M * N), I(0), I(1), I(M), I(M * K), I(0), I(0), I(tf32)])
    if need_b:
        db, dbi = c.alloc(bi.shape, gi.dtype)
        shared = bi.ndim == 2 and ai.ndim == 3  # one b for every batch: db sums over it
        Z, R = (1, B) if shared else (B, 1)
        zs = 0 if shared else 1  # batch strides go to z (per-batch db) or r (summed)
        saz, gz = M * K, M * N
        if not tb:  # dB [K,N] = op(A)^T [K,M] . G [M,N]
            _gemm(c, "matmul.cu", f"matmul_{sfx}", K, N, Z, gi.dtype, tf32,
                  [P(ai), P(gi), P(dbi), P(None), I(K), I(N), I(M), I(sa1), I(sa0), I(saz * zs), I(saz * (1 - zs)),
                   I(N), I(1), I(gz * zs), I(gz * (1 - zs)), I(R), I(N), I(K * N), I(0), I(0), I(tf32)])
        else:  # dB^T [N,K] = G^T [N,M] . op(A) [M,K]
            _gemm(c, "matmul.cu", f"matmul_{sfx}", N, K, Z, gi.dtype, tf32,
                  [P(gi), P(ai), P(dbi), P(None), I(N), I(K), I(M), I(1), I(N), I(gz * zs), I(gz * (1 - zs)),
                   I(sa0), I(sa1), I(saz * zs), I(saz * (1 - zs)), I(R), I(K), I(K * N), I(0), I(0), I(tf32)])
    if need_bias:
        dz, dzi = c.alloc((N,), gi.dtype)
        c.launch("matmul.cu", f"matmul_bias_grad_{sfx}", (_blocks(N),), [P(gi), I(B * M), I(N), P(dzi)])
    return c.out((da, db, dz))


# ---- conv2d ----------------------------------------------------------------------------

def _conv_geo(op, c: Call, xi: D.Info, wi: D.Info, stride, padding, dilation, layout):
    c.rank(xi, "x", 4, 4)
    c.rank(wi, "w", 4, 4)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    N, C, H, W = _nchw(xi.shape, nhwc)
    if nhwc:
        KH, KW, Cw, O = wi.shape
    else:
        O, Cw, KH, KW = wi.shape
    if Cw != C:
        _err(op, "w", f"input channels {Cw} do not match x's {C}")
    s = _pair(op, "stride", stride)
    d = _pair(op, "dilation", dilation)
    OH, OW, pt, pl = window(op, "w", H, W, (KH, KW), s, d, padding)
    geo = [N, C, H, W, O, KH, KW, OH, OW, s[0], s[1], d[0], d[1], pt, pl]
    return nhwc, geo


_ACT = {None: None, "linear": None, "relu": (relu, relu_backward), "tanh": (tanh, tanh_backward)}


def _act(op, activation):
    if activation not in _ACT:
        raise ValueError(f"twincore.{op}: argument 'activation': expected None, 'relu' or 'tanh', "
                         f"got {activation!r}")
    return _ACT[activation]


def conv2d(backend, x, w, bias=None, stride=1, padding=0, dilation=1, layout: str = "NCHW",
           activation=None):
    op = "conv2d"
    act = _act(op, activation)  # on the GPU a separate elementwise pass (not fused yet)
    c = Call(backend, op, x, "x")
    xi = c.float_input(c.first.obj, "x")
    wi = c.float_input(to_core(w), "w", xi)
    nhwc, g = _conv_geo(op, c, xi, wi, stride, padding, dilation, layout)
    N, C, H, W, O, KH, KW, OH, OW = g[:9]
    zi = None
    if bias is not None:
        zi = c.float_input(to_core(bias), "bias", xi)
        c.shape(zi, "bias", (O,))
    y, yi = c.alloc(_layout_shape(N, O, OH, OW, nhwc), xi.dtype)
    tf32 = _tf32_for(c.first.obj, xi.dtype)
    M, Nn, Z = (N * OH * OW, O, 1) if nhwc else (O, OH * OW, N)
    _gemm(c, "conv2d.cu", f"conv2d_{_sfx(xi)}", M, Nn, Z, xi.dtype, tf32,
          [P(xi), P(wi), P(zi), P(yi)] + [I(v) for v in g] + [I(nhwc), I(tf32)])
    return act[0](backend, c.out(y)) if act else c.out(y)


def conv2d_backward(backend, grad, x, w, stride=1, padding=0, dilation=1, layout: str = "NCHW",
                    need_x: bool = True, need_w: bool = True, need_bias: bool = False, y=None,
                    activation=None):
    op = "conv2d_backward"
    act = _act(op, activation)
    if act:
        if y is None:
            raise ValueError(f"twincore.{op}: argument 'y': the forward's output is needed to take "
                             "grad through the activation")
        grad = act[1](backend, grad, y)
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    xi = c.float_input(to_core(x), "x", gi)
    wi = c.float_input(to_core(w), "w", gi)
    nhwc, g = _conv_geo(op, c, xi, wi, stride, padding, dilation, layout)
    N, C, H, W, O, KH, KW, OH, OW = g[:9]
    c.shape(gi, "grad", _layout_shape(N, O, OH, OW, nhwc))
    tf32 = _tf32_for(c.first.obj, gi.dtype)
    sfx, geo = _sfx(gi), [I(v) for v in g]
    dx = dw = db = None
    if need_x:
        dx, dxi = c.alloc(xi.shape, gi.dtype)
        M, Nn, Z = (N * H * W, C, 1) if nhwc else (C, H * W, N)
        _gemm(c, "conv2d.cu", f"conv2d_backward_input_{sfx}", M, Nn, Z, gi.dtype, tf32,
              [P(gi), P(wi), P(dxi)] + geo + [I(nhwc), I(tf32)])
    if need_w:
        dw, dwi = c.alloc(wi.shape, gi.dtype)
        K = C * KH * KW
        M, Nn = (K, O) if nhwc else (O, K)
        _gemm(c, "conv2d.cu", f"conv2d_backward_weight_{sfx}", M, Nn, 1, gi.dtype, tf32,
              [P(gi), P(xi), P(dwi)] + geo + [I(nhwc), I(tf32)])
    if need_bias:
        db, dbi = c.alloc((O,), gi.dtype)
        c.launch("conv2d.cu", f"conv2d_backward_bias_{sfx}", (min(O, 65535),),
                 [P(gi), P(dbi), I(N), I(O), I(OH * OW), I(nhwc)])
    return c.out((dx, dw, db))


# ---- rotate ----------------------------------------------------------------------------

def _rot_param(v, like_obj, dtype):
    """A Python scalar / pair as a device array of the images' dtype and kind."""
    if isinstance(v, (int, float, list, tuple)):
        mod = type(like_obj).__module__
        if mod.startswith("torch"):
            import torch

            return torch.tensor(v, dtype=getattr(torch, dtype), device=like_obj.device)
        if mod.startswith("cupy"):
            import cupy

            return cupy.asarray(v, dtype=dtype)
        import numpy as np

        return np.asarray(v, dtype=dtype)
    return to_core(v)


def _rot_setup(c: Call, op, ii: D.Info, angle, translate, interpolation, fill, layout):
    c.rank(ii, "images", 4, 4)
    nhwc = c.choose("layout", layout, ["NCHW", "NHWC"]) == 1
    N, C, H, W = _nchw(ii.shape, nhwc)
    a = c.float_input(_rot_param(angle, c.first.obj, ii.dtype), "angle", ii)
    if not (a.ndim == 0 or (a.ndim == 1 and a.shape[0] == N)):
        _err(op, "angle", f"expected a scalar (0-d) or shape ({N},) (one per image), got shape {_shape_str(a.shape)}")
    t = c.float_input(_rot_param(translate, c.first.obj, ii.dtype), "translate", ii)
    if not (t.shape == (2,) or t.shape == (N, 2)):
        _err(op, "translate", f"expected shape (2,) (shared) or ({N}, 2) (per image), got shape {_shape_str(t.shape)}")
    interp = c.choose("interpolation", interpolation, ["bilinear", "nearest"])
    fl = c.choose("fill", fill, ["zeros", "constant", "nearest", "reflect"])
    c.keep += [a, t]
    return nhwc, (N, C, H, W), a, t, interp, fl


def rotate(backend, images, angle, translate=(0, 0), interpolation: str = "bilinear", fill: str = "zeros",
           fill_value: float = 0.0, layout: str = "NCHW"):
    op = "rotate"
    c = Call(backend, op, images, "images")
    ii = c.float_input(c.first.obj, "images")
    nhwc, (N, C, H, W), a, t, interp, fl = _rot_setup(c, op, ii, angle, translate, interpolation, fill, layout)
    out, oi = c.alloc(ii.shape, ii.dtype)
    c.launch("rotate.cu", f"rotate_{_sfx(ii)}", (_blocks(N * H * W),),
             [P(ii), P(a), I(a.ndim), P(t), I(t.ndim == 2), P(oi), I(N), I(C), I(H), I(W), I(nhwc), I(interp),
              I(fl), F(fill_value)])
    return c.out(out)


def rotate_backward(backend, grad, images, angle, translate=(0, 0), interpolation: str = "bilinear",
                    fill: str = "zeros", fill_value: float = 0.0, layout: str = "NCHW", need_images: bool = True,
                    need_angle: bool = False, need_translate: bool = False, deterministic: bool = True):
    """deterministic=True: d images by the gather form where the fill allows it (zeros,
    constant), else by atomicAdd; d angle / d translate always by two deterministic passes."""
    op = "rotate_backward"
    c = Call(backend, op, grad, "grad")
    gi = c.float_input(c.first.obj, "grad")
    ii = c.float_input(to_core(images), "images", gi)
    c.shape(ii, "images", gi.shape)
    nhwc, (N, C, H, W), a, t, interp, fl = _rot_setup(c, op, ii, angle, translate, interpolation, fill, layout)
    sfx, common = _sfx(gi), [P(a), I(a.ndim), P(t), I(t.ndim == 2)]
    dims = [I(N), I(C), I(H), I(W), I(nhwc), I(interp), I(fl)]
    di = da = dt = None
    if need_images:
        di, dii = c.alloc(gi.shape, gi.dtype)
        if deterministic and fl in (0, 1):
            c.launch("rotate.cu", f"rotate_backward_gather_{sfx}", (_blocks(N * H * W),),
                     [P(gi)] + common + [P(dii)] + dims)
        else:
            direct = gi.dtype in ("float32", "float64")
            acc = dii if direct else c.scratch(gi.numel, "float32")
            c.zero(acc)
            c.launch("rotate.cu", f"rotate_backward_scatter_{sfx}", (_blocks(N * H * W),),
                     [P(gi)] + common + [P(acc)] + dims)
            if not direct:
                c.launch("rotate.cu", f"rotate_backward_cast_{sfx}", (_blocks(gi.numel),),
                         [P(acc), P(dii), I(gi.numel)])
    if need_angle or need_translate:
        da, dai = c.alloc(a.shape, gi.dtype) if need_angle else (None, None)
        dt, dti = c.alloc(t.shape, gi.dtype) if need_translate else (None, None)
        if interp == 1:  # nearest: zero coordinate gradient
            for i in (dai, dti):
                if i is not None:
                    c.zero(i)
        else:
            if N > 65535:
                _err(op, "images", f"d angle / d translate support at most 65535 images per call, got {N}")
            nb = _blocks(H * W, cap=64)
            part = c.scratch(N * nb * 3)
            work = c.scratch(N * 3)
            c.launch("rotate.cu", f"rotate_backward_coords_{sfx}", (nb, N),
                     [P(gi), P(ii)] + common + [P(part), I(C), I(H), I(W), I(nhwc), I(fl), F(fill_value)])
            c.launch("rotate.cu", f"rotate_backward_coords_finish_{sfx}", (1,),
                     [P(part), I(nb)] + common + [I(N), P(work), P(dai), P(dti)])
    return c.out((di, da, dt))
