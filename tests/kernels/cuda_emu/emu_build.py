"""Builds the CPU emulation of the CUDA kernels (see emu.h) into a shared library and
offers it as a twincore launcher, so the real kernel files run on a machine without a GPU.
Cached in build/cuda_emu/<hash of the sources> (g++ takes about a minute on 2 cores)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from twincore.kernels import _dispatch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def cuda_include() -> str | None:
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root and (Path(root) / "include" / "cuda_fp16.h").exists():
            return str(Path(root) / "include")
    return None


def build() -> Path:
    inc = cuda_include()
    cxx = shutil.which("g++")
    if inc is None or cxx is None:
        raise RuntimeError("needs g++ and the CUDA headers (cuda_fp16.h)")
    srcs = sorted(_dispatch.CUDA_DIR.glob("*.cu"))
    h = hashlib.sha256()
    for p in srcs + sorted(_dispatch.CUDA_DIR.glob("*.cuh")) + sorted(HERE.glob("*.[hc]*")):
        h.update(p.name.encode() + p.read_bytes())
    out = ROOT / "build" / "cuda_emu" / h.hexdigest()[:16]
    lib = out / "libtcemu.so"
    if lib.exists():
        return lib
    out.mkdir(parents=True, exist_ok=True)
    flags = ["-std=c++20", "-O1", "-fPIC", "-w", f"-I{HERE}", f"-I{inc}"]

    def compile_one(src: Path) -> Path:
        obj = out / (src.stem + ".o")
        extra = [] if src.suffix == ".cc" else ["-DTC_EMU", "-include", str(HERE / "emu.h"), "-x", "c++"]
        r = subprocess.run([cxx, *flags, *extra, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"g++ {src.name}: {r.stderr[-3000:]}")
        return obj

    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        objs = list(ex.map(compile_one, srcs + [HERE / "emu.cc"]))
    tmp = out / "libtcemu.so.tmp"
    r = subprocess.run([cxx, "-shared", "-o", str(tmp), *map(str, objs), "-lpthread"], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    tmp.rename(lib)
    return lib


class EmuLauncher:
    """A twincore launcher (the protocol of cpp/python/gpu_py.h, as CuPy's) that runs the
    C++ plans' launches in the emulation; "device" pointers are host addresses (NumPy
    buffers behind fake CUDA arrays)."""

    name = "emu"

    def __init__(self, lib_path: Path):
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.tc_emu_launch.argtypes = [ctypes.c_char_p] + [ctypes.c_longlong] * 4 + [ctypes.c_char_p,
                                                                                          ctypes.c_int]
        self.launches: list[str] = []

    def launch(self, file, kernel, grid, block, smem, args, stream, device, kinds):
        assert block[1] == block[2] == 1 and len(args) == 8 * len(kinds)
        rc = self.lib.tc_emu_launch(kernel.encode(), grid[0], grid[1], grid[2], block[0], args, len(kinds))
        if rc:
            raise RuntimeError(f"emu launch of {kernel} failed: {rc}")
        self.launches.append(kernel)

    def memset0(self, ptr, nbytes, stream, device):
        ctypes.memset(ptr, 0, nbytes)
