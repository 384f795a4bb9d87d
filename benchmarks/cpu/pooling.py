import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    import torch.nn.functional as F

    out = []
    shape = (100, 64, 14, 14)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    x_cl = x.contiguous(memory_format=torch.channels_last)  # torch's NHWC
    x_nhwc = x.permute(0, 2, 3, 1).contiguous()             # ours: an [N,H,W,C] array
    g = torch.from_numpy(np.random.default_rng(1).standard_normal((100, 64, 7, 7)).astype(np.float32))
    g_cl = g.contiguous(memory_format=torch.channels_last)
    g_nhwc = g.permute(0, 2, 3, 1).contiguous()

    def pool_ours(xx, gg, layout):
        def run():
            y, idx = K.max_pool2d(xx, 2, 2, 0, layout, return_indices=True)
            return K.max_pool2d_backward(gg, idx, xx.shape, layout)
        return run

    def pool_torch(xx, gg):
        def run():
            xr = xx.detach().requires_grad_()
            F.max_pool2d(xr, 2, 2).backward(gg)
            return xr.grad
        return run

    out.append(Case("max_pool2d 2x2 fwd+bwd", "100x64x14x14 NCHW f32", pool_ours(x, g, "NCHW"), pool_torch(x, g),
                    "torch CPU", 1.0))
    out.append(Case("max_pool2d 2x2 fwd+bwd", "100x14x14x64 NHWC f32", pool_ours(x_nhwc, g_nhwc, "NHWC"),
                    pool_torch(x_cl, g_cl), "torch CPU channels_last", 1.0))

    gg = torch.from_numpy(np.random.default_rng(2).standard_normal((100, 64)).astype(np.float32))

    def gap_ours(xx, layout):
        def run():
            K.global_avg_pool2d(xx, layout)
            return K.global_avg_pool2d_backward(gg, xx.shape, layout)
        return run

    def gap_torch(xx):
        def run():
            xr = xx.detach().requires_grad_()
            F.adaptive_avg_pool2d(xr, 1).flatten(1).backward(gg)
            return xr.grad
        return run

    out.append(Case("global_avg_pool2d fwd+bwd", "100x64x14x14 NCHW f32", gap_ours(x, "NCHW"), gap_torch(x),
                    "torch CPU", 1.0))
    out.append(Case("global_avg_pool2d fwd+bwd", "100x14x14x64 NHWC f32", gap_ours(x_nhwc, "NHWC"), gap_torch(x_cl),
                    "torch CPU channels_last", 1.0))
    return out
