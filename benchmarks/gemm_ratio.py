"""GEMM f32 throughput vs NumPy's BLAS, single thread, CPU time, alternating rounds.

    OPENBLAS_CORETYPE=Haswell TWINCORE_ISA=avx2 python benchmarks/gemm_ratio.py [--n 1024] [--rounds 7] [--quick]

The ISA matrix's way to run the AVX2 path on an AVX-512 machine: TWINCORE_ISA picks our
kernel, OPENBLAS_CORETYPE picks OpenBLAS's (Haswell = its AVX2 kernel). One thread each
(OPENBLAS_NUM_THREADS=1 is set here before NumPy loads), CPU time (time.process_time: a
shared machine's waiting is not counted), each round times ours then the reference with
the best of 3 calls; prints the per-round ratios, their median and range. Appends nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from harness import machine, quick_flag  # noqa: E402
import harness  # noqa: E402


def best_cpu_time(fn, calls: int) -> float:
    best = float("inf")
    for _ in range(calls):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main(argv: list[str]) -> None:
    argv = quick_flag(argv)
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else 1024
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 7
    calls = 3
    if harness.QUICK:
        n, rounds, calls = 128, 1, 1
    from twincore import _core
    import cpu.matmul as cm

    _core.set_num_threads(1)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    ours = lambda: _core._gemm(a, b, c, False, False, 1.0, 0.0)  # noqa: E731
    ref = lambda: np.matmul(a, b, out=c)  # noqa: E731
    flops = 2.0 * n ** 3
    print(f"# {n}^3 f32, 1 thread, CPU time, best of {calls} per round; load {os.getloadavg()[0]:.1f}")
    print(f"# {machine()}; OpenBLAS core: {cm._openblas_core()}")
    ratios, go, gr = [], [], []
    for r in range(rounds):
        to, tr = best_cpu_time(ours, calls), best_cpu_time(ref, calls)
        go.append(flops / to / 1e9)
        gr.append(flops / tr / 1e9)
        ratios.append(tr / to)
        print(f"round {r}: ours {go[-1]:6.1f}  ref {gr[-1]:6.1f} GFLOP/s  ratio {ratios[-1]:.3f}", flush=True)
    print(f"| GEMM {n}^3 f32, path {_core.cpu_isa()} vs OpenBLAS {cm._openblas_core()} | ours "
          f"{statistics.median(go):.1f} GFLOP/s | OpenBLAS {statistics.median(gr):.1f} GFLOP/s | ours/OpenBLAS median "
          f"{statistics.median(ratios):.3f}x [{min(ratios):.3f}-{max(ratios):.3f}] |")


if __name__ == "__main__":
    main(sys.argv[1:])
