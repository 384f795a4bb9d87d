import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    n = 1_000_000
    r = np.random.default_rng(0)
    p0 = torch.from_numpy(r.standard_normal(n).astype(np.float32))
    grad = torch.from_numpy(r.standard_normal(n).astype(np.float32) * 0.01)

    ours_p, m, v = p0.clone(), torch.zeros(n), torch.zeros(n)
    step = [0]

    def adam_ours():
        step[0] += 1
        K.adam_step(ours_p, grad, m, v, step[0])

    w = torch.nn.Parameter(p0.clone())
    w.grad = grad.clone()
    adam = torch.optim.Adam([w], lr=1e-3, foreach=True)

    buf = torch.zeros(n)
    ours_q = p0.clone()

    def sgd_ours():
        K.sgd_step(ours_q, grad, buf, lr=1e-3, momentum=0.9, nesterov=True)

    w2 = torch.nn.Parameter(p0.clone())
    w2.grad = grad.clone()
    sgd = torch.optim.SGD([w2], lr=1e-3, momentum=0.9, nesterov=True, foreach=True)
    return [Case("adam_step", "1M f32", adam_ours, adam.step, "torch.optim.Adam(foreach)", 1.0),
            Case("sgd_step nesterov", "1M f32", sgd_ours, sgd.step, "torch.optim.SGD(foreach)", 1.0)]
