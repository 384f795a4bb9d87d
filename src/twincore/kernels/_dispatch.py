"""Which backend runs an op, and the two ways to launch a CUDA kernel.

Arrays on a CUDA device (DLPack device type kDLCUDA = 2 or kDLCUDAManaged = 13) go to:

- "cuda": the extension was built with nvcc (`_core.with_cuda`); kernels from
  kernels/cuda/*.cu were compiled into `_core` and `_core.cuda_launch` launches them by
  name (cudaLaunchKernel) on the caller's stream;
- "cupy": no CUDA build but CuPy is importable; the same .cu files are compiled at run
  time by NVRTC (cupy.RawModule, cached per file) and launched on the same stream.

Everything else runs on the CPU kernels ("cpu"). TWINCORE_GPU_BACKEND=cupy forces the
CuPy path where both exist (tests run both). The host side of each GPU op (validation,
output shapes, grid sizes) is one Python implementation, twincore.kernels._gpu, shared by
both launchers, so the two paths cannot drift apart.

Kernel ABI (kernels/cuda/common.cuh): every parameter is 8 bytes; an argument here is
("p", address), ("i", int) or ("d", float).
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from twincore import _core

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
_KDL_CUDA = (2, 13)
_USED: dict[str, str] = {}  # op -> backend that last ran it (for `twincore check`)
_local = threading.local()


# ---- where an array lives ------------------------------------------------------------

def device_of(x: Any) -> tuple[int, int]:
    """(DLPack device type, device id) of an array; (1, 0) for host memory and scalars."""
    if isinstance(x, np.ndarray) or x is None or isinstance(x, (int, float, bool, list, tuple)):
        return (1, 0)
    mod = type(x).__module__
    if mod.startswith("torch"):
        d = x.device
        return (2, d.index or 0) if d.type == "cuda" else (1, 0)
    if mod.startswith("tensorflow") or mod.startswith("tf"):
        dev = getattr(x, "device", "") or ""
        return (2, int(dev.rsplit(":", 1)[-1]) if dev[-1:].isdigit() else 0) if "GPU" in dev.upper() else (1, 0)
    f = getattr(x, "__dlpack_device__", None)
    if f is not None:
        t, i = f()
        return (int(t), int(i))
    return (1, 0)


def is_cuda(x: Any) -> bool:
    return device_of(x)[0] in _KDL_CUDA


@functools.lru_cache(maxsize=None)
def _cupy_importable() -> bool:
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


def backend_for(x: Any, op: str = "kernels", arg: str = "x") -> str:
    """"cuda" | "cupy" | "cpu": the backend that would run an op whose first array is x.

    A CUDA array with neither a CUDA build nor CuPy raises ValueError (the same message the
    ops give)."""
    if not is_cuda(x):
        return "cpu"
    forced = os.environ.get("TWINCORE_GPU_BACKEND", "").lower()
    if forced == "cupy" and _cupy_importable():
        return "cupy"
    if getattr(_core, "with_cuda", False) and forced != "cupy":
        return "cuda"
    if _cupy_importable():
        return "cupy"
    raise ValueError(f"twincore.{op}: argument '{arg}': CUDA tensors need a CUDA build of twincore "
                     "(pip install from source with nvcc on the PATH) or CuPy (pip install cupy-cuda13x)")


def backends_used() -> dict[str, str]:
    """{op: backend} for every op run so far in this process ("cpu", "cuda" or "cupy").
    `twincore check` calls this after running each op once."""
    return dict(_USED)


def gpu_info() -> dict:
    """What this install can do with CUDA arrays (for `twincore check` and bug reports):
    {"nvcc_build": bool, "cupy": bool, "devices": int, "kernels": int}. Touches the CUDA
    runtime only when the build has CUDA (and then only to count devices)."""
    nvcc = bool(getattr(_core, "with_cuda", False))
    return {"nvcc_build": nvcc, "cupy": _cupy_importable(),
            "devices": int(_core.cuda_device_count()) if nvcc else 0,
            "kernels": len(_core.cuda_kernel_names()) if nvcc else 0}


def set_stream(ptr: int | None) -> None:
    """Stream (cudaStream_t as an int) for launches from this thread on arrays that carry
    no stream of their own (not torch / CuPy); None = the legacy default stream."""
    _local.stream = ptr


# ---- raw array information (any DLPack producer) ---------------------------------------

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_DL_NAMES = {(2, 32): "float32", (2, 64): "float64", (2, 16): "float16", (4, 16): "bfloat16",
             (0, 32): "int32", (0, 64): "int64", (0, 8): "int8", (1, 8): "uint8", (6, 8): "bool"}


class Info:
    """What the host side needs of a device array: address, shape, dtype name, device, strides
    (in elements) and the object itself (kept alive while the kernel is queued)."""

    __slots__ = ("obj", "ptr", "shape", "dtype", "device", "strides", "keep")

    def __init__(self, obj, ptr, shape, dtype, device, strides, keep=None):
        self.obj, self.ptr, self.shape, self.dtype = obj, int(ptr), tuple(int(s) for s in shape), dtype
        self.device, self.strides, self.keep = device, strides, keep

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def contiguous(self) -> bool:
        if self.strides is None:
            return True
        expect = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != expect:
                return False
            expect *= n
        return True


def info(x: Any) -> Info:
    """Info of a torch / CuPy / NumPy array or any object with __dlpack__."""
    mod = type(x).__module__
    if mod.startswith("torch"):
        dt = str(x.dtype).removeprefix("torch.")
        dev = (2, x.device.index or 0) if x.device.type == "cuda" else (1, 0)
        return Info(x, x.data_ptr(), x.shape, dt, dev, tuple(x.stride()))
    if mod.startswith("cupy"):
        return Info(x, x.data.ptr, x.shape, x.dtype.name, (2, x.device.id),
                    tuple(s // x.itemsize for s in x.strides))
    if isinstance(x, np.ndarray):
        return Info(x, x.ctypes.data, x.shape, x.dtype.name, (1, 0), tuple(s // x.itemsize for s in x.strides))
    cap = x.__dlpack__() if hasattr(x, "__dlpack__") else x
    t = _DLTensor.from_address(_get_pointer(cap, b"dltensor"))
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    dt = _DL_NAMES.get((t.dtype.code, t.dtype.bits), "unsupported")
    return Info(x, (t.data or 0) + t.byte_offset, shape, dt, (t.device.device_type, t.device.device_id),
                strides, keep=cap)


def stream_for(x: Any) -> int:
    """The caller's current stream for x's framework: torch's or CuPy's; else set_stream's."""
    mod = type(x).__module__
    if mod.startswith("torch"):
        import torch

        return int(torch.cuda.current_stream(x.device).cuda_stream)
    if mod.startswith("cupy"):
        import cupy

        return int(cupy.cuda.get_current_stream().ptr)
    return int(getattr(_local, "stream", None) or 0)


# ---- launchers -------------------------------------------------------------------------

def pack(args) -> bytes:
    """The 8-byte argument slots of the kernel ABI."""
    fmt = "".join({"p": "Q", "i": "q", "d": "d"}[k] for k, _ in args)
    return struct.pack("<" + fmt, *[(int(v) if k != "d" else float(v)) for k, v in args])


class NvccLauncher:
    """Kernels compiled into _core; launched by name through cudaLaunchKernel."""

    name = "cuda"

    def launch(self, file: str, kernel: str, grid, block, args, stream: int, device: int, smem: int = 0):
        _core.cuda_launch(kernel, tuple(grid), tuple(block), int(smem), int(stream), int(device), pack(args))

    def memset0(self, ptr: int, nbytes: int, stream: int, device: int):
        _core.cuda_memset0(int(ptr), int(nbytes), int(stream), int(device))


def _cuda_include_dirs() -> list[str]:
    """Folders holding mma.h (WMMA) for NVRTC: CUDA_PATH / CUDA_HOME / CuPy's CUDA path,
    /usr/local/cuda, or the pip wheels' nvidia/*/include."""
    roots = [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME")]
    try:
        import cupy

        roots.append(cupy.cuda.get_cuda_path())
    except Exception:
        pass
    roots.append("/usr/local/cuda")
    found = [str(Path(r) / "include") for r in roots if r and (Path(r) / "include" / "mma.h").exists()]
    if not found:
        try:
            import nvidia  # the pip CUDA wheels (namespace package)

            for base in getattr(nvidia, "__path__", []):
                found += [str(p.parent) for p in Path(base).glob("*/include/mma.h")]
        except ImportError:
            pass
    return found[:1]


def nvrtc_options(arch: str | None = None) -> tuple[str, ...]:
    """Options for compiling a kernel file with NVRTC (CuPy's RawModule)."""
    opts = ["-std=c++17", f"-I{CUDA_DIR}"] + [f"-I{d}" for d in _cuda_include_dirs()]
    if arch:
        opts.append(f"--gpu-architecture={arch}")
    return tuple(opts)


class CupyLauncher:
    """The same .cu files compiled at run time by NVRTC through cupy.RawModule."""

    name = "cupy"

    def __init__(self):
        self._modules: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def module(self, file: str, device: int):
        key = (file, device)
        mod = self._modules.get(key)
        if mod is None:
            import cupy

            with self._lock, cupy.cuda.Device(device):
                code = (CUDA_DIR / file).read_text()
                mod = cupy.RawModule(code=code, options=nvrtc_options(), backend="nvrtc")
                self._modules[key] = mod
        return mod

    def launch(self, file: str, kernel: str, grid, block, args, stream: int, device: int, smem: int = 0):
        import cupy

        fn = self.module(file, device).get_function(kernel)
        vals = [np.uint64(v) if k == "p" else np.int64(v) if k == "i" else np.float64(v) for k, v in args]
        with cupy.cuda.Device(device), cupy.cuda.ExternalStream(stream):
            fn(tuple(grid), tuple(block), tuple(vals), shared_mem=int(smem))

    def memset0(self, ptr: int, nbytes: int, stream: int, device: int):
        import cupy

        with cupy.cuda.Device(device):
            cupy.cuda.runtime.memsetAsync(int(ptr), 0, int(nbytes), int(stream))


_LAUNCHERS: dict[str, Any] = {}


def launcher(backend: str):
    """The launcher object for "cuda" / "cupy" (tests may register others by name)."""
    lf = _LAUNCHERS.get(backend)
    if lf is None:
        lf = NvccLauncher() if backend == "cuda" else CupyLauncher()
        _LAUNCHERS[backend] = lf
    return lf


# ---- routing the public ops ----------------------------------------------------------

def routed(op: str, cpu_fn: Callable, gpu_fn: Callable) -> Callable:
    """The public op: CPU arrays go to cpu_fn; CUDA arrays to gpu_fn(backend, ...)."""

    @functools.wraps(cpu_fn)
    def fn(*args, **kwargs):
        first = args[0] if args else next(iter(kwargs.values()), None)
        if isinstance(first, np.ndarray) or not is_cuda(first):
            _USED[op] = "cpu"
            return cpu_fn(*args, **kwargs)
        be = backend_for(first, op, _first_name(cpu_fn))
        _USED[op] = be
        return gpu_fn(be, *args, **kwargs)

    fn.__twincore_gpu__ = gpu_fn
    return fn


def _first_name(f: Callable) -> str:
    code = getattr(f, "__code__", None)
    return code.co_varnames[0] if code and code.co_argcount else "x"


def install(namespace: dict) -> None:
    """Wrap every op of twincore.kernels that has a GPU implementation (called at the end of
    twincore.kernels/__init__.py, so ops merged later are picked up by name)."""
    from twincore.kernels import _gpu

    for op in _gpu.OPS:
        f = namespace.get(op)
        if f is not None and not hasattr(f, "__twincore_gpu__"):
            namespace[op] = routed(op, f, getattr(_gpu, op))
