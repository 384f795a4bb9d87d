"""Skip markers and reference helpers shared by the tests (import as `from support import ...`)."""
import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

import pytest


def load_test_cuda():
    """tests/kernels/test_cuda.py as a module (its fake CUDA arrays, recorder and emulator
    fixtures), loaded once for the other CUDA test files."""
    if "tc_test_cuda" not in sys.modules:
        path = Path(__file__).parent / "kernels" / "test_cuda.py"
        spec = importlib.util.spec_from_file_location("tc_test_cuda", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["tc_test_cuda"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["tc_test_cuda"]


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# Under the sanitizer build only numpy paths run (torch and TF are not ASan-clean themselves).
SANITIZE = os.environ.get("TWINCORE_SANITIZE") == "1"
requires_torch = pytest.mark.skipif(not has("torch") or SANITIZE, reason="needs torch")
requires_tf = pytest.mark.skipif(not has("tensorflow") or SANITIZE, reason="needs tensorflow")


def run_keras_backend(backend: str, args: list[str], ok: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python *args` (a script and its arguments, or ["-c", code]) in a fresh interpreter on
    Keras's `backend` (Keras fixes its backend when it is imported, so another one needs its own
    process), TF's C++ logging quiet. Asserts it exited 0 and printed `ok`; returns the process."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0 and ok in proc.stdout, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


# Messages with which a framework's own CPU kernel declines an input it does not support
# on this build or CPU (not a mistake in the test): TF without oneDNN (its default on
# CPUs without AVX-512) has no dilated Conv2DBackpropInput/Filter, for instance.
_UNSUPPORTED = re.compile(r"not yet support|not supported|unimplemented|no registered .*kernel|"
                          r"not implemented for", re.IGNORECASE)


def framework_reference(compute: Callable[[], Any], fallback: Callable[[], Any], what: str) -> Any:
    """compute() (a framework's own op: the parity reference), or fallback() (the float64
    NumPy reference) where this framework build's kernel refuses the input as unsupported.

    The availability of an optional framework kernel (oneDNN, an ISA-specific path) must
    never decide whether a test passes: the comparison then runs against the NumPy
    reference instead of being skipped. Any other error is re-raised.
    """
    try:
        return compute()
    except Exception as e:  # noqa: BLE001 -- TF's and torch's error types differ
        if not _UNSUPPORTED.search(str(e)):
            raise
        warnings.warn(f"{what}: the framework's kernel is unavailable here ({str(e).splitlines()[0][:160]}); "
                      "compared with the NumPy reference instead", stacklevel=2)
        return fallback()


def write_tiny_mnist(path) -> str:
    """A small learnable MNIST-format folder (IDX, gzip) at `path`: class c is a bright bar at
    rows 2+2c..3+2c, plus noise; 600 train and 200 test images. Returns str(path)."""
    import gzip
    import struct

    def write_idx(p, arr):
        arr = np.asarray(arr, np.uint8)
        with gzip.open(p, "wb") as f:
            f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())

    rng = np.random.default_rng(0)
    for split, n in (("train", 600), ("t10k", 200)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 250
        write_idx(Path(path) / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(Path(path) / f"{split}-labels-idx1-ubyte.gz", y)
    return str(path)
