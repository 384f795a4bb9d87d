"""Fused binary cross-entropy from logits (loss + dlogits in one pass) vs torch's
F.binary_cross_entropy_with_logits forward + autograd backward: the GAN discriminator's batch
(128 x 1), a multi-label batch (4096 x 100) and a large one (1M elements), float32."""

import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    import torch.nn.functional as F

    out = []
    for shape, note in (((128, 1), "GAN D batch"), ((4096, 100), "multi-label"), ((1024, 1024), "1M elements")):
        rng = np.random.default_rng(0)
        x = torch.from_numpy((rng.standard_normal(shape) * 3).astype(np.float32))
        t = torch.from_numpy(rng.integers(0, 2, shape).astype(np.float32))
        pw = torch.from_numpy(rng.uniform(0.5, 2.0, shape[1]).astype(np.float32))

        def ours(x=x, t=t, pw=None):
            return K.binary_cross_entropy_with_logits(x, t, pw)

        def ref(x=x, t=t, pw=None):
            xr = x.detach().requires_grad_()
            F.binary_cross_entropy_with_logits(xr, t, pos_weight=pw).backward()
            return xr.grad

        out.append(Case(f"bce_with_logits fwd+bwd ({note})", f"{shape[0]}x{shape[1]} f32", ours, ref, "torch CPU", 1.0))
        if shape[1] > 1:
            out.append(Case(f"bce_with_logits fwd+bwd, pos_weight ({note})", f"{shape[0]}x{shape[1]} f32",
                            lambda x=x, t=t, pw=pw: ours(x, t, pw), lambda x=x, t=t, pw=pw: ref(x, t, pw),
                            "torch CPU", 1.0))
    return out
