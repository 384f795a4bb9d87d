import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    V, D, B, T = 20000, 64, 64, 200  # the sentiment model's embedding
    ids = np.random.default_rng(0).integers(0, V, (B, T))
    tids = torch.from_numpy(ids)
    w = torch.randn(V, D)
    g = torch.randn(B, T, D)

    def ours():
        K.embedding(tids, w)
        return K.embedding_backward(g, tids, V)

    def ref():
        wr = w.detach().requires_grad_()
        torch.nn.functional.embedding(tids, wr).backward(g)
        return wr.grad

    return [Case("embedding fwd+bwd", f"{B}x{T} ids, {V}x{D} f32", ours, ref, "torch CPU", 1.0)]
