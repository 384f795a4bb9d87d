import numpy as np

import twincore.kernels as K
from harness import Case


def cases(torch):
    out = []
    for n in (100 * 32 * 28 * 28,):
        x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        g = np.random.default_rng(1).standard_normal(n).astype(np.float32)
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
        for name, f, fb, tf_, in (("relu", K.relu, K.relu_backward, torch.relu),
                                  ("tanh", K.tanh, K.tanh_backward, torch.tanh),
                                  ("sigmoid", K.sigmoid, K.sigmoid_backward, torch.sigmoid)):
            def ours(f=f, fb=fb):
                y = f(tx)
                return fb(tg, y)

            def ref(tf_=tf_):
                xr = tx.detach().requires_grad_()
                y = tf_(xr)
                y.backward(tg)
                return xr.grad

            out.append(Case(f"{name} fwd+bwd", f"{n} f32", ours, ref, "torch CPU", 1.0))
    return out
