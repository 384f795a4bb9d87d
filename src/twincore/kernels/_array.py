"""How arrays of each framework enter and leave the core.

Every op in twincore.kernels does the same three things (on every device: the C++ binding
runs the CPU kernel or the op's GPU plan by the arrays' device, see _dispatch):

    x, kind = prepare(x)                    # once per call, from the first array argument
    out = _core.op(x, ..., kind.alloc)     # C++ validates, allocates through kind.alloc, runs
    return kind.wrap(out)                   # hands back arrays of the caller's kind

`alloc(shape, dtype_name)` is called by the C++ side once the output shapes are
known, so shape rules live in one place (C++), and outputs are allocated by the
caller's framework: 64-byte aligned np.empty for NumPy, torch's allocator for torch (on the
CPU through its DLPack C exchange API, `_core.DLPackAlloc`: no Python call per output; on CUDA
torch.empty, its caching allocator), cupy.empty for CuPy, and the core's 64-byte aligned
Buffer for TensorFlow (TF aborts on unaligned DLPack buffers).
"""

from __future__ import annotations

import ctypes
import math
import sys
from typing import Any, Callable

import numpy as np

from twincore import _core
from twincore.kernels import _dispatch

_NP = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
       "float16": np.float16, "uint8": np.uint8, "int8": np.int8, "bool": np.bool_, "uint16": np.uint16}


class Kind:
    """One framework's way to allocate outputs and to hand results back."""

    __slots__ = ("name", "alloc", "wrap_one")

    def __init__(self, name: str, alloc: Callable, wrap_one: Callable | None = None):
        self.name, self.alloc, self.wrap_one = name, alloc, wrap_one

    def wrap(self, out: Any) -> Any:
        if self.wrap_one is None:
            return out
        if isinstance(out, tuple):
            return tuple(None if o is None else self.wrap_one(o) for o in out)
        return self.wrap_one(out)


def _np_alloc(shape, dtype):
    # Large outputs 64-byte aligned (np.empty gives 16): full-width vector loads, and
    # TensorFlow adopts an aligned array that a numpy_function returns instead of
    # copying it. Small ones skip the ~2 us this costs.
    dt = np.dtype(_NP[dtype])
    nbytes = dt.itemsize * math.prod(shape)
    if nbytes < 16384:
        return np.empty(shape, dt)
    raw = np.empty(nbytes + 64, np.uint8)
    off = -raw.ctypes.data % 64
    return raw[off:off + nbytes].view(dt).reshape(shape)


NUMPY = Kind("numpy", _np_alloc)


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype, _capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
# DLTensor: void* data; DLDevice device (2 x int32); int32 ndim; DLDataType dtype {uint8 code,
# uint8 bits, uint16 lanes}: the dtype code sits at byte 20 of the (legacy) DLManagedTensor.
_DL_DTYPE_OFFSET, _DL_UINT, _DL_BFLOAT = 20, 1, 4


class BF16Bits(np.ndarray):
    """bfloat16 values held as the bits of a uint16 NumPy array, which the core reads as bfloat16.

    NumPy has no bfloat16 that crosses DLPack (ml_dtypes' is refused), so a TF graph hands
    bfloat16 tensors to Python as uint16 (tf.bitcast, no copy) and this view relabels their
    DLPack capsule (dtype uint16 -> bfloat16, same 16 bits): no conversion, no copy. Outputs the
    core makes for such inputs are BF16Bits too (BF16_BITS.alloc). NumPy arithmetic on them
    is uint16 arithmetic: they are for carrying bits to and from the core only."""

    @staticmethod
    def of(a: np.ndarray) -> "BF16Bits":
        a = np.ascontiguousarray(a)
        if a.dtype != np.uint16:
            raise TypeError(f"twincore: BF16Bits wants the uint16 bits of bfloat16 values, got {a.dtype}")
        return a.view(BF16Bits)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        cap = self.view(np.ndarray).__dlpack__()
        p = _capsule_pointer(cap, b"dltensor") + _DL_DTYPE_OFFSET
        code, bits = ctypes.c_uint8.from_address(p).value, ctypes.c_uint8.from_address(p + 1).value
        if (code, bits) != (_DL_UINT, 16):  # the layout is not what we relabel: refuse, never guess
            raise TypeError(f"twincore: unexpected DLPack dtype ({code}, {bits}) for a uint16 array")
        ctypes.c_uint8.from_address(p).value = _DL_BFLOAT
        return cap


def _bf16_bits_alloc(shape, dtype):
    a = _np_alloc(shape, "uint16" if dtype == "bfloat16" else dtype)
    return a.view(BF16Bits) if dtype == "bfloat16" else a


BF16_BITS = Kind("bf16-bits", _bf16_bits_alloc)
META = Kind("meta", _core.Meta)
_TORCH_KINDS: dict = {}


class GpuAlloc:
    """`alloc` for CUDA arrays: allocates outputs and scratch with the caller's framework and
    tells the C++ side how to launch (cpp/python/gpu_py.h): `launcher` (None: the nvcc
    build's own; else an object with launch / memset0 / name, e.g. CuPy's NVRTC launcher)
    and `context(device)` -> (the caller's current stream, allow TF32)."""

    __slots__ = ("empty", "stream", "tf32", "_launcher")

    def __init__(self, empty: Callable, stream: Callable[[int], int], tf32: Callable[[], bool],
                 launcher: Any = "default"):
        self.empty, self.stream, self.tf32, self._launcher = empty, stream, tf32, launcher

    @property
    def launcher(self):
        return _dispatch.default_launcher() if self._launcher == "default" else self._launcher

    def __call__(self, shape, dtype):
        return self.empty(shape, dtype)

    def context(self, device: int) -> tuple[int, bool]:
        return int(self.stream(device)), bool(self.tf32())


def _torch_kind(x) -> Kind:
    dev = x.device
    kind = _TORCH_KINDS.get(dev)
    if kind is None:
        import torch

        tdt = {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32,
               "int64": torch.int64, "float16": torch.float16, "bfloat16": torch.bfloat16,
               "uint8": torch.uint8, "int8": torch.int8, "bool": torch.bool}
        empty = lambda shape, dtype: torch.empty(shape, dtype=tdt[dtype], device=dev)  # noqa: E731
        if dev.type == "cpu" and _register_torch_exporter(torch):
            # torch's DLPack C exchange API: outputs made in C++ (no Python call per output)
            empty = _core.DLPackAlloc(torch.Tensor, 1, 0)
        elif dev.type == "cuda":
            empty = GpuAlloc(empty, lambda i: torch.cuda.current_stream(dev).cuda_stream,
                             lambda: _dispatch.allow_tf32() or torch.backends.cuda.matmul.allow_tf32)
        kind = Kind("torch", empty)
        _TORCH_KINDS[dev] = kind
        _register_torch_exporter(torch)
    return kind


def _register_torch_exporter(torch) -> bool:
    """Make the core read torch tensors fast; True when torch offers the DLPack C exchange API.

    torch >= 2.10 has `__dlpack_c_exchange_api__` (C functions that fill a DLTensor and make
    new tensors: ~0.05 us an argument, no capsule). Older torch: torch.Tensor.__dlpack__ is
    Python code (~2 us an argument), so torch.utils.dlpack.to_dlpack, its C function (~0.3 us)
    without the stream handshake, which the core does not need (its CUDA kernels run on
    torch's current stream). Exact types only (subclasses may override __dlpack__)."""
    global _TORCH_EXCHANGE
    if _TORCH_EXCHANGE is None:
        types = (torch.Tensor, torch.nn.Parameter)
        _TORCH_EXCHANGE = all([_core.register_dlpack_exchange(t) for t in types])
        if _TORCH_EXCHANGE:
            # requires_grad tensors too: the C API reads them as they are (__dlpack__ refuses)
            _EXCHANGE_TYPES.update(types)
        else:
            from torch.utils.dlpack import to_dlpack

            for t in types:
                _core.register_dlpack_exporter(t, to_dlpack)
    return _TORCH_EXCHANGE


_TORCH_EXCHANGE: bool | None = None
_EXCHANGE_TYPES: set = set()  # types that prepare / to_core hand to the core as they are


def _tf_kind() -> Kind:
    import tensorflow as tf

    return Kind("tf", _core.empty, lambda buf: tf.experimental.dlpack.from_dlpack(buf.__dlpack__()))


def _cupy_stream(device: int) -> int:
    import cupy

    with cupy.cuda.Device(device):
        return cupy.cuda.get_current_stream().ptr


def _cupy_kind() -> Kind:
    import cupy

    return Kind("cupy", GpuAlloc(lambda shape, dtype: cupy.empty(shape, dtype=dtype), _cupy_stream,
                                 _dispatch.allow_tf32))


def _foreign_cuda_kind(x) -> Kind:
    """CUDA arrays of other frameworks (any __dlpack__ on a CUDA device): outputs by CuPy, or
    by torch, returned as that framework's arrays; the stream is set_stream's."""
    if _dispatch._cupy_importable():
        import cupy

        return Kind("cupy", GpuAlloc(lambda shape, dtype: cupy.empty(shape, dtype=dtype),
                                     lambda i: _dispatch.thread_stream(), _dispatch.allow_tf32))

    def no_alloc(shape, dtype):
        raise ValueError(f"twincore: outputs for CUDA arrays of type {type(x).__name__} need CuPy "
                         "(or pass torch / CuPy arrays)")

    return Kind("cuda", GpuAlloc(no_alloc, lambda i: _dispatch.thread_stream(), _dispatch.allow_tf32))


# Tests (and callers with an allocator of their own) may set this: x -> Kind for CUDA arrays
# that are neither torch nor CuPy.
foreign_cuda_kind: Callable[[Any], Kind] = _foreign_cuda_kind


def prepare(x: Any) -> tuple[Any, Kind]:
    """Return (x in a form the core reads, the Kind that outputs should have).

    Non-contiguous NumPy/torch/CuPy arrays are copied once to contiguous memory
    (the C++ kernels read row-major buffers); contiguous ones cross without a copy.
    """
    if type(x) in _EXCHANGE_TYPES:  # torch, read by the C exchange API: no detach needed
        return (x if x.is_contiguous() else x.contiguous()), _torch_kind(x)
    if type(x) is BF16Bits:
        return x, BF16_BITS
    if isinstance(x, np.ndarray):
        return (x if x.flags.c_contiguous else np.ascontiguousarray(x)), NUMPY
    mod = type(x).__module__
    if mod.startswith("torch"):
        if x.requires_grad:
            x = x.detach()
        return (x if x.is_contiguous() else x.contiguous()), _torch_kind(x)
    if mod.startswith("tensorflow") or mod.startswith("tf"):
        return to_core(x), _tf_kind()
    if mod.startswith("cupy"):
        import cupy

        return cupy.ascontiguousarray(x), _cupy_kind()
    if isinstance(x, (float, int, list, tuple)) or np.isscalar(x):
        return np.ascontiguousarray(x, dtype=np.float32 if isinstance(x, (float, int)) else None), NUMPY
    if isinstance(x, _core.Meta):
        return x, META
    if _dispatch.is_cuda(x):
        return x, foreign_cuda_kind(x)
    return x, NUMPY


def kind_of(x: Any) -> Kind:
    """The Kind of an array that an op updates in place (no copy; optimizer steps)."""
    if isinstance(x, np.ndarray):
        return NUMPY
    mod = type(x).__module__
    if mod.startswith("torch"):
        return _torch_kind(x)
    if mod.startswith("cupy"):
        return _cupy_kind()
    if isinstance(x, _core.Meta):
        return META
    return foreign_cuda_kind(x) if _dispatch.is_cuda(x) else NUMPY


def to_core(x: Any, kind: Kind | None = None) -> Any:
    """Bring a further argument (labels, weights, ...) into a form the core reads."""
    if x is None:
        return None
    if type(x) in _EXCHANGE_TYPES:
        return x if x.is_contiguous() else x.contiguous()
    if isinstance(x, np.ndarray):
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    mod = type(x).__module__
    if mod.startswith("torch"):
        if x.requires_grad:
            x = x.detach()
        return x if x.is_contiguous() else x.contiguous()
    if mod.startswith("tensorflow") or mod.startswith("tf"):
        import tensorflow as tf

        return tf.experimental.dlpack.to_dlpack(x)
    if mod.startswith("cupy"):
        import cupy

        return cupy.ascontiguousarray(x)
    return x


def tf_loaded() -> bool:
    return "tensorflow" in sys.modules
