"""conv_transpose2d fwd+bwd (y, dx, dw, dbias) vs torch's F.conv_transpose2d + autograd: CPU time, one thread.

    python benchmarks/convt_ratio.py [--rounds 7] [--quick]

The GAN generator's layers of benchmarks/cpu/conv_transpose2d.py (batch 64, 4x4, stride 2), ours in
NCHW and in NHWC against the same torch NCHW call. Each round times ours then torch per call over a
block of calls (time.process_time: waiting for a core on a shared machine is not counted); prints
the ratio torch / ours, median and range over the rounds. Appends nothing. The two-thread wall-clock
figure is bench_cpu.py conv_transpose2d's; this one holds still on a loaded machine.
"""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine  # noqa: E402  (imports twincore before torch)
import harness  # noqa: E402

# (name, Cin, Cout, H): x [64, Cin, H, H] -> y [64, Cout, 2H, 2H]
SHAPES = [("64->32 7->14", 64, 32, 7), ("32->1 14->28", 32, 1, 14)]
N = 64


def main(argv: list[str]) -> None:
    rounds = harness.one_thread_setup(argv)
    import numpy as np
    import torch
    import torch.nn.functional as F

    import twincore.kernels as K
    print(f"# conv_transpose2d fwd+bwd, batch {N}, 1 thread, CPU time; load {os.getloadavg()[0]:.1f}\n# {machine()}")
    for name, cin, cout, h in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, cin, h, h)).astype(np.float32)
        w = (rng.standard_normal((cin, cout, 4, 4)) / np.sqrt(16 * cin)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        g = rng.standard_normal((N, cout, 2 * h, 2 * h)).astype(np.float32)
        xl, wl, gl = (np.ascontiguousarray(a.transpose(p)) for a, p in ((x, (0, 2, 3, 1)), (w, (2, 3, 1, 0)),
                                                                        (g, (0, 2, 3, 1))))
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))

        def ref():
            xr, wr, br = (t.detach().requires_grad_() for t in (tx, tw, tb))
            y = F.conv_transpose2d(xr, wr, br, stride=2, padding=1)
            y.backward(tg)
            return y, xr.grad, wr.grad

        def nchw():
            return (K.conv_transpose2d(x, w, b, 2, 1, None, 1, "NCHW"),
                    *K.conv_transpose2d_backward(g, x, w, 2, 1, None, 1, "NCHW", True, True, True))

        def nhwc():
            return (K.conv_transpose2d(xl, wl, b, 2, "same", None, 1, "NHWC"),
                    *K.conv_transpose2d_backward(gl, xl, wl, 2, "same", None, 1, "NHWC", True, True, True))

        y, dx, dw = ref()
        ours = nchw()
        for a, r in zip(ours[:3], (y, dx, dw)):
            np.testing.assert_allclose(a, r.detach().numpy(), rtol=1e-4, atol=1e-4)
        calls = 1 if harness.QUICK else 20
        for layout, fn in (("NCHW", nchw), ("NHWC", nhwc)):
            to, tr, ratios = harness.cpu_time_rounds(fn, ref, calls, rounds)
            print(f"| convT {name} fwd+bwd {layout} | ours {statistics.median(to) * 1e3:.3f} ms | torch "
                  f"{statistics.median(tr) * 1e3:.3f} ms | torch/ours median {statistics.median(ratios):.2f}x "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}] |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
