import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    n, c = 4096, 1000
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, c)).astype(np.float32) * 3)
    g = torch.from_numpy(np.random.default_rng(1).standard_normal((n, c)).astype(np.float32))

    def ours():
        return K.softmax_backward(g, K.softmax(x))

    def ref():
        xr = x.detach().requires_grad_()
        torch.softmax(xr, dim=-1).backward(g)
        return xr.grad

    return [Case("softmax fwd+bwd", f"{n}x{c} f32", ours, ref, "torch CPU", 1.0)]
