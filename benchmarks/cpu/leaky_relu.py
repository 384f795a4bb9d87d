"""leaky_relu forward+backward vs torch (F.leaky_relu + autograd), float32."""

import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    import torch.nn.functional as F

    n = 1 << 20
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32))
    g = torch.from_numpy(np.random.default_rng(1).standard_normal(n).astype(np.float32))

    def ours():
        return K.leaky_relu(x, 0.2), K.leaky_relu_backward(g, x, 0.2)

    def ref():
        xr = x.detach().requires_grad_()
        y = F.leaky_relu(xr, 0.2)
        y.backward(g)
        return y, xr.grad

    return [Case("leaky_relu fwd+bwd", f"{n} f32", ours, ref, "torch CPU", 1.0)]
