"""Shared by the distributed tests: a small random data set and a bounded CLI runner
that never leaves a process behind (each run is its own process group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np

import twincore

# Child processes import the twincore this test run imports (the installed one under
# `make test`, src/ under PYTHONPATH=src), never a source tree without its built _core.
SRC = os.path.dirname(os.path.dirname(os.path.abspath(twincore.__file__)))


def small_npz(path: str, n_train: int = 240, n_test: int = 20, seed: int = 0) -> str:
    """A keras-style mnist.npz of random 28x28 uint8 images and labels (never zeros)."""
    r = np.random.default_rng(seed)
    np.savez(path, x_train=r.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), y_train=r.integers(0, 10, n_train),
             x_test=r.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), y_test=r.integers(0, 10, n_test))
    return path


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e.update(TWINCORE_NUM_THREADS="1", OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    e.pop("TWINCORE_LAUNCHED", None)
    for k in ("RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID", "TF_CONFIG"):
        e.pop(k, None)
    return e


def kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "twincore.distributed", *args], env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def run(args: list[str], timeout: float = 180) -> tuple[int, str, str]:
    """Run `python -m twincore.distributed <args>`; (rc, stdout, stderr). Kills the whole
    process group on a timeout (then fails) and after it ends (stragglers)."""
    p = start(args)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise AssertionError(f"twincore.distributed {' '.join(args)} ran over {timeout} s")
    kill_group(p)
    return p.returncode, out, err


def script(code: str, timeout: float = 180) -> str:
    """Run a Python snippet in a fresh interpreter (TensorFlow's devices are fixed at start)."""
    p = subprocess.Popen([sys.executable, "-c", code], env=env(), text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise AssertionError(f"script ran over {timeout} s")
    kill_group(p)
    assert p.returncode == 0, f"script failed (rc={p.returncode}):\n{out[-2000:]}\n{err[-4000:]}"
    return out
