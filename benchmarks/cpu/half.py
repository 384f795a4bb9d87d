"""Half precision on the CPU: bf16/f16 GEMMs and the document models' layers, ours vs torch's
own half ops, and the native bf16 GEMM (cpp/cpu/gemm_half.cc, AVX512-BF16 dot products) vs
our converting path (float32 copies through core/half.h, step 1) in the same process.

    python benchmarks/bench_cpu.py half
"""
import numpy as np

import twincore.kernels as K
from twincore import _core
from harness import Case


def converting(fn):
    """fn with the native bf16 GEMM switched off (the float32-copy path)."""
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
    print(f"half: native bf16 GEMM {'on (AVX512-BF16)' if native else 'off (this CPU/ISA: converting path)'}",
          flush=True)
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s, dt: torch.randn(s, generator=g).to(dt)  # noqa: E731
    out = []
    n = 1024
    for dt, name in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        a, b = rnd(n, n, dt=dt), rnd(n, n, dt=dt)
        mm = lambda a=a, b=b: K.matmul(a, b)  # noqa: E731
        out.append(Case("matmul fwd", f"{n}^3 {name}", mm, lambda a=a, b=b: a @ b, f"torch CPU {name} matmul"))
        if dt is torch.bfloat16 and native:
            out.append(Case("matmul fwd", f"{n}^3 bf16", mm, converting(mm), "ours, float32 copies (no native)"))
        a32, b32 = a.float(), b.float()
        out.append(Case("matmul fwd", f"{n}^3 {name}", mm, lambda a=a32, b=b32: K.matmul(a, b),
                        "ours in float32"))
    # the document MLP's dense layers and the CNN's conv, in bf16 (torch's layout)
    for batch, fan_in, fan_out in ((32, 784, 512), (100, 512, 10)):
        x, w, bias = rnd(batch, fan_in, dt=torch.bfloat16), rnd(fan_out, fan_in, dt=torch.bfloat16), \
            rnd(fan_out, dt=torch.bfloat16)
        gr = rnd(batch, fan_out, dt=torch.bfloat16)

        def fwd_bwd(x=x, w=w, bias=bias, gr=gr):
            K.matmul(x, w, bias, trans_b=True)
            return K.matmul_backward(gr, x, w, trans_b=True, need_bias=True)

        def fwd_bwd_ref(x=x, w=w, bias=bias, gr=gr):
            xr, wr, br = (t.detach().requires_grad_() for t in (x, w, bias))
            F.linear(xr, wr, br).backward(gr)
            return xr.grad, wr.grad, br.grad

        shape = f"{batch}x{fan_in} -> {fan_out} bf16"
        out.append(Case("dense fwd+bwd", shape, fwd_bwd, fwd_bwd_ref, "torch CPU bf16 F.linear+autograd"))
        if native:
            out.append(Case("dense fwd+bwd", shape, fwd_bwd, converting(fwd_bwd), "ours, float32 copies"))
    x, w = rnd(100, 32, 28, 28, dt=torch.bfloat16), rnd(64, 32, 3, 3, dt=torch.bfloat16)
    out.append(Case("conv2d fwd", "100x32x28x28 * 64x3x3 s2 bf16", lambda: K.conv2d(x, w, None, 2, 1),
                    lambda: F.conv2d(x, w, None, 2, 1), "torch CPU bf16 F.conv2d"))
    y = rnd(256, 1000, dt=torch.bfloat16)
    out.append(Case("relu", "256x1000 bf16", lambda: K.relu(y), lambda: F.relu(y), "torch CPU bf16 relu"))
    labels = torch.randint(0, 1000, (256,), generator=g)
    out.append(Case("softmax CE fwd+bwd", "256x1000 bf16", lambda: K.softmax_cross_entropy(y, labels),
                    lambda: _ce_ref(torch, F, y, labels), "torch CPU bf16 F.cross_entropy+autograd"))
    return out


def _ce_ref(torch, F, y, labels):
    yr = y.detach().requires_grad_()
    loss = F.cross_entropy(yr, labels)
    loss.backward()
    return loss, yr.grad
