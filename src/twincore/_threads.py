"""Keep the frameworks' idle OpenMP workers off the cores our thread pool needs.

torch's CPU wheels run their intra-op parallel regions on GNU OpenMP (libgomp). After
each region libgomp's workers busy-wait for the next one: GOMP_SPINCOUNT defaults to
300,000 `pause` iterations, 4-10 ms on the EPYC machines we measured (Intel's libiomp5
spins KMP_BLOCKTIME = 200 ms). A twincore kernel that runs right after a torch op (the
batch gather of a training step, say) then shares the cores with a thread that does no
work: on 2 cores, half the machine. TensorFlow's Eigen pools spin < 0.3 ms: left alone.

libgomp and libiomp5 read these variables once, when they are loaded (when torch is
imported), so `import twincore` sets shorter defaults before that: 10,000 spins
(~0.2-0.5 ms, still longer than the gap between two torch ops in a model, so torch's
own op-to-op hand-off stays hot) and KMP_BLOCKTIME=1 ms. A variable the user has set
(or OMP_WAIT_POLICY) is left as it is. If torch was imported before twincore its
runtime keeps its defaults: `openmp_spin_status()` says which case holds.
"""
from __future__ import annotations

import os

SPIN_DEFAULTS = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}
_RUNTIMES = ("libgomp", "libiomp5", "libomp.so")
_loaded_before: list[str] = []  # OpenMP runtimes already in the process when twincore set the defaults


def _openmp_runtimes_loaded() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:  # not Linux: nothing to tell
        return []
    return sorted({p.rsplit("/", 1)[-1] for p in paths if any(r in p.rsplit("/", 1)[-1] for r in _RUNTIMES)})


def quiet_openmp_spin() -> None:
    """Set the shorter spin defaults (no effect on a runtime that is already loaded)."""
    _loaded_before[:] = _openmp_runtimes_loaded()
    if "OMP_WAIT_POLICY" in os.environ:  # the user chose; GOMP_SPINCOUNT would override it
        return
    for k, v in SPIN_DEFAULTS.items():
        os.environ.setdefault(k, v)


def openmp_spin_status() -> str:
    """One line for benchmark headers: which spin settings the OpenMP runtimes got."""
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", *SPIN_DEFAULTS) if k in os.environ)
    if _loaded_before:
        return (f"OpenMP spin: {', '.join(_loaded_before)} loaded before twincore, runtime defaults "
                f"(import twincore first to get {env or 'shorter spins'})")
    return f"OpenMP spin: {env or 'runtime defaults'}"
