import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    import torch.nn.functional as F

    n, c = 4096, 1000
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, c)).astype(np.float32) * 3)
    y = torch.from_numpy(np.random.default_rng(1).integers(0, c, size=n))
    probs = torch.softmax(torch.from_numpy(np.random.default_rng(2).standard_normal((n, c)).astype(np.float32)), 1)

    def ours(labels=y):
        return K.softmax_cross_entropy(x, labels)

    def ref(labels=y):
        xr = x.detach().requires_grad_()
        F.cross_entropy(xr, labels).backward()
        return xr.grad

    return [
        Case("softmax_cross_entropy fwd+bwd (class ids)", f"{n}x{c} f32", ours, ref, "torch CPU", 1.5),
        Case("softmax_cross_entropy fwd+bwd (probabilities)", f"{n}x{c} f32",
             lambda: ours(probs), lambda: ref(probs), "torch CPU", 1.5),
    ]
