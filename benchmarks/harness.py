"""Side-by-side timing: each case runs ours and the reference alternately in one
process, after warm-up, and reports medians and the ratio ref/ours (>1 means
twincore is faster). Never a pass/fail test."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

# Before torch: `import twincore` gives torch's OpenMP runtime short idle spins (see
# twincore/_threads.py), as it does for any program that imports twincore first.
import twincore  # noqa: F401

# --quick (benchmarks' smoke option, run by tests/test_benchmarks.py): one call of each side,
# one round, nothing appended to RESULTS.md. The figures are then meaningless.
QUICK = False


def quick_flag(argv: list[str]) -> list[str]:
    """Set QUICK if argv holds --quick; returns argv without it."""
    global QUICK
    QUICK = QUICK or "--quick" in argv
    return [a for a in argv if a != "--quick"]


@dataclass
class Case:
    op: str             # e.g. "matmul fwd"
    shape: str          # e.g. "1024x1024x1024 f32"
    ours: Callable[[], object]
    ref: Callable[[], object]
    ref_name: str       # e.g. "numpy (OpenBLAS)"
    target: float | None = None  # the speed target as a ratio, shown beside the result


def median_time(fn: Callable[[], object], min_time: float = 0.3, warmup: int = 3, max_reps: int = 200) -> float:
    if QUICK:
        min_time, warmup, max_reps = 0.0, 1, 1
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min(5, max_reps) or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_thread_setup(argv: list[str], default_rounds: int = 7) -> int:
    """For the 1-thread CPU-time ratio scripts: reads --quick and --rounds N, puts torch and our
    pool on one thread each; returns the number of rounds (1 under --quick)."""
    import torch

    from twincore import _core

    argv = quick_flag(argv)
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else default_rounds
    torch.set_num_threads(1)
    _core.set_num_threads(1)
    return 1 if QUICK else rounds


def cpu_time_rounds(ours: Callable[[], object], ref: Callable[[], object], calls: int,
                    rounds: int) -> tuple[list[float], list[float], list[float]]:
    """CPU seconds per call of ours and ref, alternating: each round warms each side with a
    quarter block, then times a block of `calls` (time.process_time: waiting for a core on a
    shared machine is not counted). Returns (ours, ref, ref/ours) per round."""
    def per_call(fn, n: int) -> float:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - t0) / n

    to: list[float] = []
    tr: list[float] = []
    for _ in range(rounds):
        per_call(ours, max(1, calls // 4))
        to.append(per_call(ours, calls))
        per_call(ref, max(1, calls // 4))
        tr.append(per_call(ref, calls))
    return to, tr, [r / o for o, r in zip(to, tr)]


def measure(case: Case, rounds: int = 3) -> tuple[float, float]:
    """Interleave ours/ref for `rounds` rounds so both see the same machine state."""
    ours, ref = [], []
    for _ in range(1 if QUICK else rounds):
        ours.append(median_time(case.ours))
        ref.append(median_time(case.ref))
    return statistics.median(ours), statistics.median(ref)


def machine() -> str:
    model = platform.processor()
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl") if f in flags)
    from twincore import _core
    from twincore._threads import openmp_spin_status

    return (f"{model}, {os.cpu_count()} cores, flags: {simd or 'none'}; twincore path: {_core.cpu_isa()}, "
            f"{_core.num_threads()} threads; {openmp_spin_status()}")


def run(cases: list[Case], title: str, results_md: str | None = None) -> str:
    head = f"## {title} — {datetime.date.today()}\n\n{machine()}\n\n"
    rows = ["| op | shape | ours (ms) | reference | ref (ms) | ratio ref/ours | target |",
            "|---|---|---:|---|---:|---:|---:|"]
    print(head, flush=True)
    print(rows[0] + "\n" + rows[1], flush=True)
    for c in cases:
        o, r = measure(c)
        tgt = f">= {c.target:.2f}" if c.target else ""
        row = f"| {c.op} | {c.shape} | {o * 1e3:.3f} | {c.ref_name} | {r * 1e3:.3f} | {r / o:.2f}x | {tgt} |"
        rows.append(row)
        print(row, flush=True)
    text = head + "\n".join(rows) + "\n\n"
    if results_md and not QUICK:
        with open(results_md, "a") as f:
            f.write(text)
    return text
