import math

import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    F = torch.nn.functional
    n, c, h, w = 100, 32, 28, 28
    r = np.random.default_rng(0)
    x = torch.from_numpy(r.standard_normal((n, c, h, w)).astype(np.float32))
    g = torch.from_numpy(r.standard_normal((n, c, h, w)).astype(np.float32))
    angle = torch.from_numpy(r.uniform(-30, 30, n).astype(np.float32))  # per-sample angles
    # The same warp in torch's normalized coordinates (align_corners=True: pixel centres on the grid).
    th = angle.double() * (math.pi / 180)
    a, b = (w - 1) / 2, (h - 1) / 2
    zero = torch.zeros(n, dtype=torch.float64)
    theta = torch.stack([torch.stack([th.cos(), -th.sin() * b / a, zero], 1),
                         torch.stack([th.sin() * a / b, th.cos(), zero], 1)], 1).float()

    def ours():
        K.rotate(x, angle)
        return K.rotate_backward(g, x, angle)[0]

    def ref():
        xr = x.detach().requires_grad_()
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=True)
        F.grid_sample(xr, grid, mode="bilinear", padding_mode="zeros", align_corners=True).backward(g)
        return xr.grad

    def ours_fwd():
        return K.rotate(x, angle)

    def ref_fwd():
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=True)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    shape = f"{n}x{c}x{h}x{w} f32"
    return [Case("rotate fwd+bwd (images)", shape, ours, ref, "torch affine_grid+grid_sample", 1.0),
            Case("rotate fwd", shape, ours_fwd, ref_fwd, "torch affine_grid+grid_sample", None)]
