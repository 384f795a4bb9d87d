"""batch_norm forward+backward (training mode) at the GAN generator's shapes vs torch's
F.batch_norm + autograd, float32: NCHW and NHWC (ours) against torch's NCHW."""

import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    import torch.nn.functional as F

    out = []
    for n, c, h in ((64, 64, 7), (64, 32, 14)):
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal((n, c, h, h)).astype(np.float32))
        g = torch.from_numpy(rng.standard_normal((n, c, h, h)).astype(np.float32))
        w, b = torch.ones(c), torch.zeros(c)
        x_l, g_l = (np.ascontiguousarray(t.numpy().transpose(0, 2, 3, 1)) for t in (x, g))

        def ref(x=x, g=g, w=w, b=b):
            xr, wr, br = (t.detach().requires_grad_() for t in (x, w, b))
            y = F.batch_norm(xr, None, None, wr, br, training=True)
            y.backward(g)
            return y, xr.grad

        def ours(x=x, g=g, w=w, b=b, layout="NCHW"):
            y, m, v = K.batch_norm(x, w, b, 1e-5, layout)
            return y, K.batch_norm_backward(g, x, w, m, v, 1e-5, layout)

        out.append(Case(f"batch_norm fwd+bwd NCHW (GAN G, {c} ch)", f"{n}x{c}x{h}x{h} f32", ours, ref, "torch CPU", 1.0))
        out.append(Case(f"batch_norm fwd+bwd NHWC (GAN G, {c} ch)", f"{n}x{h}x{h}x{c} f32",
                        lambda x=x_l, g=g_l, w=w.numpy(), b=b.numpy(): ours(x, g, w, b, "NHWC"), ref,
                        "torch CPU (NCHW)", 1.0))
    return out
