"""Which executor runs an op on CUDA arrays, and the Python launchers.

Every op's rules (checks, output shapes, launch plans) live once, in C++: a binding
validates its arguments, allocates outputs through the caller's `alloc`, then runs the CPU
kernel for CPU tensors or the op's GPU plan (cpp/gpu/<op>.cc) for CUDA tensors. For CUDA
arrays (DLPack device type kDLCUDA = 2 or kDLCUDAManaged = 13), `twincore.kernels._array.prepare`
hands C++ an `alloc` that also says how to launch (cpp/python/gpu_py.h):

- `alloc.launcher` None: the nvcc build's launcher (`_core.with_cuda`: the kernels of
  kernels/cuda/*.cu compiled into _core, launched by name with cudaLaunchKernel);
- `alloc.launcher` CupyLauncher: no CUDA build, or TWINCORE_GPU_BACKEND=cupy: the same .cu
  files compiled at run time by NVRTC (cupy.RawModule, cached per file);
- `alloc.context(device)` -> (the caller's current stream, allow TF32).

A CUDA array with neither a CUDA build nor CuPy raises ValueError naming the op and argument.
Kernel ABI (kernels/cuda/common.cuh): every parameter is 8 bytes; a launcher receives them
packed (`args`, little-endian) with one letter per slot in `kinds`: p pointer, i long long,
d double.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from twincore import _core

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
_KDL_CUDA = (2, 13)
_local = threading.local()
_allow_tf32 = False


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
    lf = default_launcher()
    if lf is not None:
        return lf.name
    if getattr(_core, "with_cuda", False):
        return "cuda"
    raise ValueError(f"twincore.{op}: argument '{arg}': CUDA tensors need a CUDA build of twincore "
                     "(pip install from source with nvcc on the PATH) or CuPy (pip install cupy-cuda13x)")


def backends_used() -> dict[str, str]:
    """{op: backend} for every op run so far in this process ("cpu", "cuda", "cupy", or a
    test launcher's name). `twincore check` calls this after running each op once."""
    return dict(_core._backends_used())


def gpu_info() -> dict:
    """What this install can do with CUDA arrays (for `twincore check` and bug reports):
    {"nvcc_build": bool, "cupy": bool, "devices": int, "kernels": int, "gemm": str}
    ("gemm": the vendor GEMM the plans try first, "cublaslt" or "none"). Touches the CUDA
    runtime only when the build has CUDA (and then only to count devices)."""
    nvcc = bool(getattr(_core, "with_cuda", False))
    return {"nvcc_build": nvcc, "cupy": _cupy_importable(),
            "devices": int(_core.cuda_device_count()) if nvcc else 0,
            "kernels": len(_core.cuda_kernel_names()) if nvcc else 0,
            "gemm": _core.gemm_provider()}


def set_stream(ptr: int | None) -> None:
    """Stream (cudaStream_t as an int) for launches from this thread on arrays that carry
    no stream of their own (not torch / CuPy); None = the legacy default stream."""
    _local.stream = ptr


def set_allow_tf32(allow: bool) -> None:
    """Let float32 matmul / conv2d on the GPU use TF32 tensor cores (10-bit mantissa inputs)
    for arrays other than torch's (torch tensors follow torch.backends.cuda.matmul.allow_tf32)."""
    global _allow_tf32
    _allow_tf32 = bool(allow)


def allow_tf32() -> bool:
    return _allow_tf32


def thread_stream() -> int:
    return int(getattr(_local, "stream", None) or 0)


# ---- raw DLPack structs (tests build fake CUDA arrays with them) -------------------------

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


# ---- launchers -------------------------------------------------------------------------

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


def unpack(args: bytes, kinds: str) -> tuple:
    """The 8-byte argument slots as NumPy scalars of their kinds (p: uint64 address, i: int64,
    d: float64), which CuPy's RawKernel packs back into the same 8 bytes each."""
    types = {"p": np.uint64, "i": np.int64, "d": np.float64}
    if len(args) != 8 * len(kinds):
        raise ValueError(f"twincore: {len(args)} argument bytes for {len(kinds)} slots")
    return tuple(np.frombuffer(args, types[k], 1, 8 * j)[0] for j, k in enumerate(kinds))


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

    def launch(self, file: str, kernel: str, grid, block, smem: int, args: bytes, stream: int, device: int,
               kinds: str):
        import cupy

        fn = self.module(file, device).get_function(kernel)
        with cupy.cuda.Device(device), cupy.cuda.ExternalStream(stream):
            fn(tuple(grid), tuple(block), unpack(args, kinds), shared_mem=int(smem))

    def memset0(self, ptr: int, nbytes: int, stream: int, device: int):
        import cupy

        with cupy.cuda.Device(device):
            cupy.cuda.runtime.memsetAsync(int(ptr), 0, int(nbytes), int(stream))


_CUPY: list = []


def default_launcher():
    """The Python launcher for CUDA arrays of this process: None for the nvcc build's own
    (cudaLaunchKernel), CupyLauncher without one or with TWINCORE_GPU_BACKEND=cupy, None
    when there is neither (the ops then raise their clear ValueError)."""
    forced = os.environ.get("TWINCORE_GPU_BACKEND", "").lower()
    if getattr(_core, "with_cuda", False) and forced != "cupy":
        return None
    if not _cupy_importable():
        return None
    if not _CUPY:
        _CUPY.append(CupyLauncher())
    return _CUPY[0]
