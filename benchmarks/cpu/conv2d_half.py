"""conv2d forward+backward in bfloat16 on the CPU: ours (cpp/cpu/conv2d_half.cc: bf16 patches into
the AVX512-BF16 GEMM where the CPU has it) vs torch's own bf16 conv2d (oneDNN) + autograd, NCHW
and NHWC (torch channels_last), at the document CNN's shapes (batch 100, 28x28) and a 14x14
32->64 conv; and vs our converting path (float32 copies, core/half.h) in the same process.
Like the native side, dx is computed only where a network needs it (not for a first layer).

    python benchmarks/bench_cpu.py conv2d_half
"""
from harness import Case

import twincore.kernels as K
from twincore import _core

# (name, N, C, H, O, stride, input needs a gradient); 3x3 kernels, padding 1 ("same" here)
SHAPES = [("conv 1->32 3x3 s1 (CNN)", 100, 1, 28, 32, 1, False),
          ("conv 32->64 3x3 s2 (CNN)", 100, 32, 28, 64, 2, True),
          ("conv 32->64 3x3 s1 14x14", 100, 32, 14, 64, 1, True)]


def _converting(fn):
    def run():
        _core._set_half_gemm_native(False)
        try:
            return fn()
        finally:
            _core._set_half_gemm_native(True)
    return run


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
                out.append(Case(f"{name} fwd+bwd {layout}", shape, ours, _converting(ours),
                                "ours, float32 copies (converting path)"))
    return out
