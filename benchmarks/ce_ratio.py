"""Fused softmax cross-entropy fwd+bwd vs torch (F.cross_entropy + backward), alternating rounds.

    python benchmarks/ce_ratio.py [--threads N] [--rounds 7] [--quick]

4096x1000 float32, class ids and probability targets. Each round times ours then torch's
(best of 5 calls; CPU time with --threads 1, wall time otherwise) and prints the ratio
torch/ours; then the median and range over the rounds. Appends nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine, quick_flag  # noqa: E402  (imports twincore before torch)
import harness  # noqa: E402


def best_time(fn, calls: int, cpu: bool) -> float:
    clock = time.process_time if cpu else time.perf_counter
    best = float("inf")
    for _ in range(calls):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def main(argv: list[str]) -> None:
    argv = quick_flag(argv)
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else 1
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 7
    n, c, calls = 4096, 1000, 5
    if harness.QUICK:
        n, c, rounds, calls = 64, 10, 1, 1
    import numpy as np
    import torch
    import torch.nn.functional as F

    import twincore.kernels as K
    from twincore import _core

    torch.set_num_threads(threads)
    _core.set_num_threads(threads)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, c)).astype(np.float32) * 3)
    y = torch.from_numpy(np.random.default_rng(1).integers(0, c, size=n))
    p = torch.softmax(torch.from_numpy(np.random.default_rng(2).standard_normal((n, c)).astype(np.float32)), 1)

    def ref(t):
        xr = x.detach().requires_grad_()
        F.cross_entropy(xr, t).backward()
        return xr.grad

    cpu = threads == 1
    print(f"# {n}x{c} f32, {threads} thread(s), {'CPU' if cpu else 'wall'} time, best of {calls} per round; "
          f"load {os.getloadavg()[0]:.1f}\n# {machine()}")
    for name, t in (("class ids", y), ("probabilities", p)):
        ratios = []
        for _ in range(rounds):
            to = best_time(lambda: K.softmax_cross_entropy(x, t), calls, cpu)
            tr = best_time(lambda: ref(t), calls, cpu)
            ratios.append(tr / to)
        print(f"| CE fwd+bwd {n}x{c} ({name}) | ours {to * 1e3:.2f} ms | torch {tr * 1e3:.2f} ms (last round) | "
              f"torch/ours median {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
