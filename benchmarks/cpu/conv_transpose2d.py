"""conv_transpose2d forward+backward at the GAN generator's shapes (workloads/gan.py, batch 64,
float32): 7x7x64 -> 14x14x32 and 14x14x32 -> 28x28x1, 4x4 kernels, stride 2.

NCHW vs torch CPU (F.conv_transpose2d + autograd: y, dx, dw, dbias); NHWC (Keras's layout, what the
bit-identical GAN runs) against the same torch reference. Every layer computes dx (the generator's
input gradient flows back to its dense layer).
"""

import numpy as np

import twincore.kernels as K
from harness import Case

# (name, Cin, Cout, H)
SHAPES = [("convT 64->32 4x4 s2 (GAN G, 7->14)", 64, 32, 7), ("convT 32->1 4x4 s2 (GAN G, 14->28)", 32, 1, 14)]
N = 64


def cases(torch):
    import torch.nn.functional as F

    out = []
    for name, cin, cout, h in SHAPES:
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal((N, cin, h, h)).astype(np.float32))
        w = torch.from_numpy((rng.standard_normal((cin, cout, 4, 4)) / np.sqrt(16 * cin)).astype(np.float32))
        b = torch.from_numpy(rng.standard_normal(cout).astype(np.float32))
        g = torch.from_numpy(rng.standard_normal((N, cout, 2 * h, 2 * h)).astype(np.float32))
        x_l, w_l, g_l = (t.numpy().transpose(p).copy() for t, p in ((x, (0, 2, 3, 1)), (w, (2, 3, 1, 0)),
                                                                    (g, (0, 2, 3, 1))))

        def ref(x=x, w=w, b=b, g=g):
            xr, wr, br = (t.detach().requires_grad_() for t in (x, w, b))
            y = F.conv_transpose2d(xr, wr, br, stride=2, padding=1)
            y.backward(g)
            return y, xr.grad, wr.grad

        def ours(x=x, w=w, b=b, g=g, layout="NCHW", pad=1):
            y = K.conv_transpose2d(x, w, b, 2, pad, None, 1, layout)
            return y, K.conv_transpose2d_backward(g, x, w, 2, pad, None, 1, layout, True, True, True)

        def ours_nhwc(x=x_l, w=w_l, b=b.numpy(), g=g_l):
            return ours(x, w, b, g, "NHWC", "same")

        out.append(Case(f"{name} fwd+bwd NCHW", f"{N}x{cin}x{h}x{h} f32", ours, ref, "torch CPU", 1.0))
        out.append(Case(f"{name} fwd+bwd NHWC", f"{N}x{h}x{h}x{cin} f32", ours_nhwc, ref, "torch CPU (NCHW)", 1.0))
    return out
