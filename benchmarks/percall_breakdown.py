"""Where the microseconds of one small torch-frontend call go (issue 15, per-call cost).

    python benchmarks/percall_breakdown.py [--quick] [--reps N]

Times each layer of `twincore.frontends.torch.functional.linear` on 32x64 @ 64x64 + bias
(the overhead case of bench_torch.py) from the inside out, beside torch's F.linear, in
CPU time (time.process_time: a busy shared machine inflates wall time, not CPU time) on one
thread; medians of `--reps` blocks of calls, after warm-up. Each row is a cumulative layer,
so the difference between two rows is what the outer one adds. Prints only; appends nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import quick_flag  # noqa: E402  (imports twincore first: torch's OpenMP spin)
import harness  # noqa: E402


def per_call_us(fn, block: int, reps: int) -> tuple[float, float, float]:
    """(median, min, max) of CPU microseconds per call over `reps` blocks of `block` calls."""
    for _ in range(max(1, block // 4)):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(block):
            fn()
        out.append((time.process_time() - t0) / block * 1e6)
    return statistics.median(out), min(out), max(out)


def main(argv: list[str]) -> None:
    argv = quick_flag(argv)
    reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv else 7
    block = 2000
    if harness.QUICK:
        reps, block = 1, 2
    import torch
    import torch.nn.functional as F
    from torch.utils.dlpack import to_dlpack

    import twincore.kernels as K
    from twincore import _core
    from twincore.frontends.torch import functional as tcf
    from twincore.frontends.torch import ops
    from twincore.kernels._array import _torch_kind, prepare

    torch.set_num_threads(1)
    _core.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 64, generator=g)
    w = torch.randn(64, 64, generator=g)
    b = torch.randn(64, generator=g)
    xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
    up = torch.randn(32, 64, generator=g)
    alloc = _torch_kind(x).alloc

    class Plain(torch.autograd.Function):
        """A bare autograd.Function over the core: the floor for a custom autograd op."""

        @staticmethod
        def forward(ctx, a, b_, bias):
            ctx.save_for_backward(a, b_)
            return _core.matmul(a, b_, bias, False, True, alloc)

        @staticmethod
        def backward(ctx, gr):
            a, b_ = ctx.saved_tensors
            return _core.matmul_backward(gr, a, b_, False, True, True, True, True, alloc)

    def fwd_bwd(f, *args):
        def step():
            f(*args).backward(up)
        return step

    rows = [
        ("torch.empty(32, 64)", lambda: torch.empty((32, 64), dtype=torch.float32)),
        ("alloc((32, 64), 'float32') (torch kind)", lambda: alloc((32, 64), "float32")),
        ("to_dlpack(x)", lambda: to_dlpack(x)),
        ("prepare(x)", lambda: prepare(x)),
        ("_core.matmul (binding + GEMM)", lambda: _core.matmul(x, w, b, False, True, alloc)),
        ("K.matmul", lambda: K.matmul(x, w, b, trans_b=True)),
        ("ops.matmul.forward_impl", lambda: ops.matmul.forward_impl(x, w, b, False, True)),
        ("tcf.linear (no grad)", lambda: tcf.linear(x, w, b)),
        ("torch F.linear (no grad)", lambda: F.linear(x, w, b)),
        ("torch.ops.twincore.matmul (dispatcher, no grad)", lambda: ops.matmul(x, w, b, False, True)),
        ("tcf.linear fwd, params need grad", lambda: tcf.linear(x, wg, bg)),
        ("Plain autograd.Function fwd, params need grad", lambda: Plain.apply(x, wg, bg)),
        ("torch F.linear fwd, params need grad", lambda: F.linear(x, wg, bg)),
        ("tcf.linear fwd+bwd", fwd_bwd(tcf.linear, xg, wg, bg)),
        ("Plain autograd.Function fwd+bwd", fwd_bwd(Plain.apply, xg, wg, bg)),
        ("custom op via dispatcher fwd+bwd", fwd_bwd(lambda a, b_, c: ops.matmul(a, b_, c, False, True), xg, wg, bg)),
        ("torch F.linear fwd+bwd", fwd_bwd(F.linear, xg, wg, bg)),
    ]
    print(f"# per-call CPU time, 1 thread, {reps} blocks of {block} calls (median [min-max] us)")
    print(f"# load average: {os.getloadavg()[0]:.1f}; {harness.machine()}")
    print("| layer (cumulative) | us / call (median) | range |\n|---|---:|---:|")
    for name, fn in rows:
        med, lo, hi = per_call_us(fn, block if "bwd" not in name else max(1, block // 4), reps)
        print(f"| {name} | {med:.2f} | {lo:.2f}-{hi:.2f} |")
        for t in (xg, wg, bg):
            t.grad = None


if __name__ == "__main__":
    main(sys.argv[1:])
