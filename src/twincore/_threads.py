"""Keep the frameworks' idle OpenMP workers off the cores our thread pool needs.

torch's CPU wheels run their intra-op parallel regions on GNU OpenMP (libgomp). After
each region libgomp's workers busy-wait for the next one: GOMP_SPINCOUNT defaults to
300,000 `pause` iterations, 4-10 ms on the EPYC machines we measured (Intel's libiomp5
spins KMP_BLOCKTIME = 200 ms). A twincore kernel that runs right after a torch op (the
batch gather of a training step, say) then shares the cores with a thread that does no
work: on 2 cores, half the machine. TensorFlow's Eigen pools spin < 0.3 ms: left alone.

libgomp and libiomp5 read their settings once, when they are loaded (when torch is
imported), so `import twincore` sets, before that, OMP_WAIT_POLICY=PASSIVE (idle workers
sleep at once) and KMP_BLOCKTIME=0 (the same for libiomp5). Why not a shorter spin: the
process runs our pool's threads beside torch's, so it has more threads than cores by
design, and on a machine shared with other work a spinning worker also uses up its time
slice and is then scheduled late for the next torch op (libgomp itself throttles its spin
to 1,000 when it sees more threads than CPUs, for this reason). Measured on the 2-core
EPYC under load (benchmarks/RESULTS.md): torch F.linear 32x64 0.53 ms with 10,000 spins,
0.065 ms with 1,000, 0.018 ms passive; torch's own CNN step 3-4x faster than with
libgomp's default spin and 1.2-1.5x faster than with 10,000 spins; ours no slower. The cost is a futex wake-up (microseconds) per torch parallel region.

TensorFlow: a graph op of ours (the Keras frontend's numpy_function crossing) runs on one of
TF's inter-op threads ("tf_Compute", one per core by default) and splits its work over our
pool; TF's other inter-op workers, looking for work meanwhile, take the cores our pool needs.
Our kernels do their own parallel work, so `import twincore` also sets
TF_NUM_INTEROP_THREADS=1 (read when TF creates its runtime, at its first op). Measured on the
2-core EPYC at idle (benchmarks/bench_keras.py --rounds 3, document CNN, model.fit): our
Keras step 23.9 -> 20.4 ms, Keras's own layers 19.1 -> 19.5 ms (unchanged: Keras's kernels
parallelise inside each op, on TF's intra-op pool, which is left alone).

A setting the user made (OMP_WAIT_POLICY, GOMP_SPINCOUNT, KMP_BLOCKTIME,
TF_NUM_INTEROP_THREADS) is left as it is. If torch was imported before twincore, its runtime keeps its defaults:
`openmp_spin_status()` says which case holds.
"""
from __future__ import annotations

import os

SPIN_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
TF_DEFAULTS = {"TF_NUM_INTEROP_THREADS": "1"}
_USER_KNOBS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
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
    """Set the no-spin defaults (no effect on a runtime that is already loaded)."""
    _loaded_before[:] = _openmp_runtimes_loaded()
    for k, v in TF_DEFAULTS.items():
        os.environ.setdefault(k, v)
    if any(k in os.environ for k in _USER_KNOBS):  # the user chose
        return
    os.environ.update(SPIN_DEFAULTS)


def openmp_spin_status() -> str:
    """One line for benchmark headers: which spin settings the OpenMP runtimes got."""
    env = ", ".join(f"{k}={os.environ[k]}" for k in _USER_KNOBS if k in os.environ)
    if _loaded_before:
        return (f"OpenMP spin: {', '.join(_loaded_before)} loaded before twincore, runtime defaults "
                f"(import twincore first to get {env or 'shorter spins'})")
    return f"OpenMP spin: {env or 'runtime defaults'}"
