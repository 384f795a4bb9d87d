"""Dense forward (x @ w.T + b, torch tensors) vs torch's F.linear: CPU time, one thread.

    python benchmarks/dense_ratio.py [--rounds 7] [--quick]
    TWINCORE_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python benchmarks/dense_ratio.py                                        # both on AVX2

torch's float32 F.linear on CPU is MKL's SGEMM (MKL_VERBOSE=1 shows it; ONEDNN_VERBOSE=1 shows
no oneDNN call, so ONEDNN_MAX_CPU_ISA does not apply): MKL_ENABLE_INSTRUCTIONS caps its ISA,
ATEN_CPU_CAPABILITY only ATen's own kernels. On the AMD EPYC (Zen 4) of RESULTS.md, F.linear's
time was the same with MKL_ENABLE_INSTRUCTIONS unset, AVX2, AVX512 or SSE4_2.

The document models' dense shapes. Each round times ours (twincore.kernels.matmul with
trans_b, the torch frontend's linear without autograd) then F.linear under no_grad, per
call over a block of calls (time.process_time: waiting for a core on a shared machine is
not counted); prints the ratio F.linear / ours per shape, median and range over the rounds.
Appends nothing.
"""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine  # noqa: E402  (imports twincore before torch)
import harness  # noqa: E402

SHAPES = [(32, 784, 512), (100, 784, 512), (32, 512, 10), (100, 512, 10)]


def main(argv: list[str]) -> None:
    rounds = harness.one_thread_setup(argv)
    import numpy as np
    import torch
    import torch.nn.functional as F

    import twincore.kernels as K
    rng = np.random.default_rng(0)
    print(f"# dense fwd, 1 thread, CPU time; load {os.getloadavg()[0]:.1f}; torch ISA "
          f"{torch.backends.cpu.get_cpu_capability()}, MKL_ENABLE_INSTRUCTIONS="
          f"{os.environ.get('MKL_ENABLE_INSTRUCTIONS', '(unset)')}\n# {machine()}")
    for batch, fin, fout in SHAPES:
        x = torch.from_numpy(rng.standard_normal((batch, fin)).astype(np.float32))
        w = torch.from_numpy((rng.standard_normal((fout, fin)) * 0.05).astype(np.float32))
        b = torch.from_numpy(rng.standard_normal(fout).astype(np.float32))
        ours = lambda: K.matmul(x, w, b, trans_b=True)  # noqa: E731

        def ref():
            with torch.no_grad():
                return F.linear(x, w, b)

        torch.testing.assert_close(ours(), ref(), rtol=1e-4, atol=1e-4)
        calls = 1 if harness.QUICK else max(20, int(2e8 / (2 * batch * fin * fout)))
        to, tr, ratios = harness.cpu_time_rounds(ours, ref, calls, rounds)
        print(f"| dense fwd {batch}x{fin} -> {fout} | ours {statistics.median(to) * 1e6:.1f} us | F.linear "
              f"{statistics.median(tr) * 1e6:.1f} us | F.linear/ours median {statistics.median(ratios):.2f}x "
              f"[{min(ratios):.2f}-{max(ratios):.2f}] |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
