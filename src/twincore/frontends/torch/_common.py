"""Small helpers shared by the torch ops: argument normalisation (with errors in the
project's format), the fake (meta) kernels (the core's own shape rules, asked with
twincore.kernels.Meta arrays), and the empty placeholder that stands for "gradient not
needed" in a backward op's outputs.

Custom ops cannot return None, so a backward op that was told `need_x=False`
returns `torch.empty(0)` in that slot and the autograd formula turns it back into None.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import torch

import twincore.kernels as K


def bad(op: str, arg: str, msg: str, exc: type = ValueError) -> Exception:
    """An exception whose message starts `twincore.<op>: argument '<arg>': `."""
    return exc(f"twincore.{op}: argument '{arg}': {msg}")


def pair(v, op: str, arg: str) -> list[int]:
    """An int or a pair of ints -> [h, w]: the core's rule (python/bridge.cc pair_from,
    `_core.int_pair`) in Python, because torch.compile traces it (a call into the extension
    would break the graph)."""
    if isinstance(v, bool):
        raise bad(op, arg, f"expected an int or a pair of ints, got {v!r}", TypeError)
    if isinstance(v, int):
        return [v, v]
    if isinstance(v, (tuple, list, torch.Size)) and len(v) == 2 and all(
            isinstance(i, int) and not isinstance(i, bool) for i in v):
        return [int(v[0]), int(v[1])]
    raise bad(op, arg, f"expected an int or a pair of ints, got {v!r}", TypeError)


def padding_arg(padding, op: str) -> tuple[list[int], str]:
    """padding (int, pair, "same", "valid") -> (pads [h, w], mode "explicit"|"same"|"valid").

    Custom-op schemas need one type per argument, so the polymorphic padding of the
    public API travels as two arguments.
    """
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise bad(op, "padding", f"expected an int, a pair, 'same' or 'valid', got {padding!r}")
        return [0, 0], padding
    return pair(padding, op, "padding"), "explicit"


def kernel_padding(pads: Sequence[int], mode: str):
    """The padding argument of twincore.kernels from the custom op's two arguments."""
    return mode if mode != "explicit" else (int(pads[0]), int(pads[1]))


def layout_arg(layout, op: str) -> str:
    if layout not in ("NCHW", "NHWC"):
        raise bad(op, "layout", f"expected 'NCHW' or 'NHWC', got {layout!r}")
    return layout


def _meta(v):
    """A torch (fake) tensor as a twincore Meta array; anything else unchanged.

    Symbolic sizes (torch.compile with dynamic shapes) are read as their current value,
    which specialises the traced graph to it (int() installs a guard): the core's rules
    take concrete sizes."""
    if isinstance(v, torch.Tensor):
        return K.Meta(tuple(int(d) for d in v.shape), str(v.dtype).removeprefix("torch."))
    if isinstance(v, (list, tuple)) and any(isinstance(i, torch.SymInt) for i in v):
        return [int(i) for i in v]
    return v


def fake_from_core(impl):
    """The fake kernel of a custom op whose implementation `impl` calls twincore.kernels:
    `impl` runs on Meta arrays, so the core validates the arguments and computes the output
    shapes by the same C++ rules as for real tensors (no shape arithmetic here); Meta
    outputs become empty tensors on the inputs' (fake) device."""

    def fake(*args):
        like = next(a for a in args if isinstance(a, torch.Tensor))

        def back(o):
            if isinstance(o, (tuple, list)):
                return tuple(back(i) for i in o)
            return like.new_empty(o.shape, dtype=getattr(torch, o.dtype))

        return back(impl(*[_meta(a) for a in args]))

    fake.__name__ = f"{impl.__name__}_fake"
    return fake


def none_if_empty(t: torch.Tensor, needed: bool):
    """Back from a backward op's placeholder convention to autograd's None."""
    return t if needed else None


def placeholder(like):
    if isinstance(like, K.Meta):  # in a fake kernel (fake_from_core)
        return K.Meta((0,), like.dtype)
    return like.new_empty((0,))


def check_tensor(x, op: str, arg: str) -> None:
    """Reject non-tensors early with the op's name (torch's dispatcher would say less)."""
    if not isinstance(x, torch.Tensor):
        raise bad(op, arg, f"expected a torch.Tensor, got {type(x).__name__}", TypeError)


def register(op, forward, setup_context, backward) -> None:
    """Give custom op `op` its autograd formula, and an eager twin `op.eager`.

    `op.eager` is a torch.autograd.Function with the same forward, setup_context and
    backward, called without the dispatcher: in eager mode that halves the per-call
    overhead of the wrappers. The backward tells the two apart by `ctx.eager` and calls
    the backward kernels directly there (see `backward_op`), or the backward custom ops
    (which torch.compile traces) otherwise.
    """
    op.register_autograd(backward, setup_context=setup_context)
    sig = inspect.signature(forward)
    n_params = len(sig.parameters)
    once = torch.autograd.function.once_differentiable(backward)

    # The ctx-first forward, not a separate setup_context: Function.apply binds the
    # arguments with inspect.signature on every call when setup_context is defined
    # (~10 us, a tenth of a small linear's forward+backward). Defaults are bound here, and
    # only when an argument is left out.
    class Eager(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *args):
            if len(args) < n_params:
                bound = sig.bind(*args)
                bound.apply_defaults()
                args = bound.args
            out = forward(*args)
            ctx.eager = True
            setup_context(ctx, args, out)
            return out

        @staticmethod
        def backward(ctx, *grads):
            # Double backward: a clear error, never silent zeros. Grad mode is on in a backward
            # only under create_graph=True; there once_differentiable's wrapper marks the
            # results so that differentiating them again raises. Otherwise the plain call:
            # the wrapper's no_grad block and checks cost ~5 us a backward.
            if _grad_enabled():
                return once(ctx, *grads)
            return backward(ctx, *grads)

    Eager.__name__ = Eager.__qualname__ = f"{op._name}_eager"
    op.eager = Eager.apply
    op.forward_impl = forward


# ---- torch.autocast ---------------------------------------------------------------------------
# Our ops follow torch's own autocast policy (torch/csrc/autocast_mode.cpp's lists):
#   "lower": GEMM-like ops (torch's linear, conv, rnn) run in the autocast dtype: floating
#            inputs (not float64) are cast to torch.get_autocast_dtype(device);
#   "fp32":  numerically sensitive losses run in float32: half inputs are cast up;
#   "promote": ops with several float inputs run in the widest of their dtypes (torch's
#            batch_norm takes bf16 activations with float32 statistics; ours wants one dtype);
#   ops with one float input (activations, pooling, softmax) need no rule: they run in
#   their input's dtype, as torch's do.
# torch.library.register_autocast casts to one fixed dtype; the autocast dtype is the user's
# choice (bf16 or f16), so the kernel here reads it at call time.
_AUTOCAST_LIB = None
_HALVES = (torch.float16, torch.bfloat16)
_autocast_on = torch._C._is_any_autocast_enabled  # bound once: `call` asks it on every eager call (~0.2 us)


def _cast_floats(args, device_type: str, pick):
    """args with each eligible floating tensor (on device_type, not float64) cast to pick(t)."""
    def one(v):
        if isinstance(v, torch.Tensor):
            if v.is_floating_point() and v.device.type == device_type and v.dtype is not torch.float64:
                want = pick(v)
                return v if want is None or v.dtype is want else v.to(want)
            return v
        if isinstance(v, (list, tuple)):
            return type(v)(one(i) for i in v)
        return v
    return tuple(one(a) for a in args)


def register_autocast(op, policy: str) -> None:
    """Give custom op `op` an autocast rule (policy "lower" | "fp32" | "promote", see above) on
    the CPU and CUDA. `call` sends ops through the dispatcher while autocast is on, so the
    eager path obeys it too."""
    global _AUTOCAST_LIB
    if policy not in ("lower", "fp32", "promote"):
        raise ValueError(f"unknown autocast policy {policy!r}")
    if _AUTOCAST_LIB is None:
        _AUTOCAST_LIB = torch.library.Library("twincore", "IMPL")
    opoverload = op._opoverload
    name = op._name.split("::")[-1]
    for device_type in ("cpu", "cuda"):
        key = "Autocast" + torch._C._dispatch_key_for_device(device_type)
        keyset = torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, key))

        def kernel(_keys, *args, _device_type=device_type, _keyset=keyset):
            if policy == "lower":
                low = torch.get_autocast_dtype(_device_type)
                args = _cast_floats(args, _device_type, lambda t: low)
            elif policy == "fp32":
                args = _cast_floats(args, _device_type, lambda t: torch.float32 if t.dtype in _HALVES else None)
            else:
                floats = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()
                          and a.device.type == _device_type and a.dtype is not torch.float64]
                widest = max((a.dtype for a in floats), key=lambda d: torch.finfo(d).bits, default=None)
                if widest is torch.float16 and any(a.dtype is torch.bfloat16 for a in floats):
                    widest = torch.float32  # f16 with bf16: neither holds the other
                args = _cast_floats(args, _device_type, lambda t: widest)
            with torch._C._ExcludeDispatchKeyGuard(_keyset):
                return opoverload(*args)

        _AUTOCAST_LIB.impl(name, kernel, key, with_keyset=True)


def backward_op(ctx, op, impl):
    """The backward custom op, or its plain implementation in the eager twin."""
    return impl if getattr(ctx, "eager", False) else op


_PLAIN = (torch.Tensor, torch.nn.Parameter)
# Bound once: this runs on every eager call, and each attribute lookup costs ~0.03 us.
_is_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active
_grad_enabled = torch.is_grad_enabled


def call(op, *args):
    """Run custom op `op`: itself under torch.compile/export and for meta or fake tensors
    (its fake kernel gives the shapes); in eager mode its autograd twin, or the bare kernel
    call when no gradient can flow (inference: nothing to record)."""
    if _autocast_on():  # torch.autocast: the custom op, whose autocast rule (register_autocast) casts
        return op(*args)
    x = args[0]
    # cheapest tests first: this runs on every eager call (x.is_meta, not x.device.type: 0.3 us);
    # under torch.func transforms the custom op (its registered autograd) runs
    if type(x) not in _PLAIN or x.is_meta or _is_compiling() or _functorch_active():
        return op(*args)
    if _grad_enabled():
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                return op.eager(*args)
    return op.forward_impl(*args)
