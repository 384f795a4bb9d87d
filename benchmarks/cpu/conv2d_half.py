"""conv2d forward+backward in bfloat16 on the CPU: ours (cpp/cpu/conv2d_half.cc: bf16 patches into
the AVX512-BF16 GEMM where the CPU has it) vs torch's own bf16 conv2d (oneDNN) + autograd, NCHW
and NHWC (torch channels_last), at the document CNN's shapes (batch 100, 28x28) and a 14x14
32->64 conv; and vs our converting path (float32 copies, core/half.h) in the same process.
Like the native side, dx is computed only where a network needs it (not for a first layer).

    python benchmarks/bench_cpu.py conv2d_half            # wall time, every thread (the table)
    python benchmarks/cpu/conv2d_half.py [--threads 1]     # CPU time (process_time), 1 thread each
The second is the yardstick on a machine whose cores are shared (see cpu/conv2d.py); it also
avoids torch's multi-threaded bf16 conv backward, which on this 2-core VM runs 10-25x slower
than its one-thread CPU time (the s2 conv: ~250-350 ms wall vs ~15 ms CPU).
"""
import pathlib
import sys

if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from cpu.half import converting  # noqa: E402  (the native bf16 GEMM switched off)
from harness import Case  # noqa: E402

import twincore.kernels as K  # noqa: E402
from twincore import _core  # noqa: E402

# (name, N, C, H, O, stride, input needs a gradient); 3x3 kernels, padding 1 ("same" here)
SHAPES = [("conv 1->32 3x3 s1 (CNN)", 100, 1, 28, 32, 1, False),
          ("conv 32->64 3x3 s2 (CNN)", 100, 32, 28, 64, 2, True),
          ("conv 32->64 3x3 s1 14x14", 100, 32, 14, 64, 1, True)]


def cases(torch):
    import torch.nn.functional as F

    native = _core.half_gemm_native()
    print(f"conv2d_half: native bf16 path {'on (AVX512-BF16)' if native else 'off (converting path)'}", flush=True)
    out = []
    for name, n, c, h, o, s, need_x in SHAPES:
        gen = torch.Generator().manual_seed(0)
        bf = lambda *shape: torch.randn(shape, generator=gen).to(torch.bfloat16)  # noqa: E731
        oh = (h + 2 - 3) // s + 1
        for layout in ("NCHW", "NHWC"):
            nhwc = layout == "NHWC"
            x = bf(n, h, h, c) if nhwc else bf(n, c, h, h)
            w = bf(3, 3, c, o) if nhwc else bf(o, c, 3, 3)
            b = bf(o)
            g = bf(n, oh, oh, o) if nhwc else bf(n, o, oh, oh)
            # torch's side: the same memory as NCHW views (channels_last for NHWC)
            xt = x.permute(0, 3, 1, 2) if nhwc else x
            wt = (w.permute(3, 2, 0, 1) if nhwc else w).contiguous(
                memory_format=torch.channels_last if nhwc else torch.contiguous_format)
            gt = g.permute(0, 3, 1, 2) if nhwc else g

            def ours(x=x, w=w, b=b, g=g, s=s, need_x=need_x, layout=layout):
                y = K.conv2d(x, w, b, stride=s, padding=1, layout=layout)
                return y, K.conv2d_backward(g, x, w, stride=s, padding=1, layout=layout, need_x=need_x,
                                            need_bias=True)

            def ref(xt=xt, wt=wt, b=b, gt=gt, s=s, need_x=need_x):
                xr = xt.detach().requires_grad_(need_x)
                wr, br = wt.detach().requires_grad_(), b.detach().requires_grad_()
                y = F.conv2d(xr, wr, br, stride=s, padding=1)
                y.backward(gt)
                return y, wr.grad

            shape = f"{n}x{h}x{h}x{c} bf16" if nhwc else f"{n}x{c}x{h}x{h} bf16"
            ref_name = "torch CPU bf16 (oneDNN)" + (" channels_last" if nhwc else "")
            out.append(Case(f"{name} fwd+bwd {layout}", shape, ours, ref, ref_name, 1.0))
            if native:
                out.append(Case(f"{name} fwd+bwd {layout}", shape, ours, converting(ours),
                                "ours, float32 copies (converting path)"))
    return out


if __name__ == "__main__":
    import torch

    from cpu.conv2d import _cpu_ms

    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
    _core.set_num_threads(threads)
    torch.set_num_threads(threads)
    print(f"conv2d bf16 fwd+bwd, CPU time (process_time), {threads} thread(s); twincore path {_core.cpu_isa()}")
    print("| op | ours (CPU ms) | reference | ref (CPU ms) | ratio ref/ours |\n|---|---:|---|---:|---:|")
    for c in cases(torch):
        times = [(_cpu_ms(c.ours), _cpu_ms(c.ref)) for _ in range(3)]
        ours, ref = min(t[0] for t in times), min(t[1] for t in times)
        print(f"| {c.op} | {ours:.2f} | {c.ref_name} | {ref:.2f} | {ref / ours:.2f}x |", flush=True)
