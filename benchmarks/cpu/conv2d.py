"""conv2d forward+backward at the document CNNs' shapes (batch 100, 28x28, float32).

NCHW vs torch CPU (F.conv2d + autograd) and NHWC vs TF CPU (tf.nn.conv2d under
tf.GradientTape inside a tf.function). Like the native side, ours computes dx only
where a real network needs it: not for the first layer (its input is the image).
"""

import numpy as np

import twincore.kernels as K
from harness import Case

# (name, C, O, stride, input needs a gradient)
SHAPES = [("conv 1->32 3x3 s1 same (CNN, Rotation CNN)", 1, 32, 1, False),
          ("conv 32->64 3x3 s2 same (CNN)", 32, 64, 2, True)]
N, H, W = 100, 28, 28


def _torch_cases(torch):
    import torch.nn.functional as F

    out = []
    for name, c, o, s, need_x in SHAPES:
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal((N, c, H, W)).astype(np.float32))
        w = torch.from_numpy((rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32))
        b = torch.from_numpy(rng.standard_normal(o).astype(np.float32))
        g = torch.from_numpy(rng.standard_normal((N, o, -(-H // s), -(-W // s))).astype(np.float32))

        def ours(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            y = K.conv2d(x, w, b, stride=s, padding="same")
            return y, K.conv2d_backward(g, x, w, stride=s, padding="same", need_x=need_x, need_bias=True)

        def ref(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            xr = x.detach().requires_grad_(need_x)
            wr, br = w.detach().requires_grad_(), b.detach().requires_grad_()
            # TF's "same" for k=3 is a symmetric 1 here (stride 2 on 28 -> total pad 1: bottom/right)
            xp = F.pad(xr, (0, 1, 0, 1)) if s == 2 else xr
            y = F.conv2d(xp, wr, br, stride=s, padding=0 if s == 2 else 1)
            y.backward(g)
            return y, wr.grad

        out.append(Case(f"{name} fwd+bwd NCHW", f"{N}x{c}x{H}x{W} f32", ours, ref, "torch CPU", 0.8))
    return out


def _tf_cases():
    try:
        import tensorflow as tf
    except ImportError:
        return []
    out = []
    for name, c, o, s, need_x in SHAPES:
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal((N, H, W, c)).astype(np.float32))
        w = tf.constant((rng.standard_normal((3, 3, c, o)) / np.sqrt(9 * c)).astype(np.float32))
        b = tf.constant(rng.standard_normal(o).astype(np.float32))
        g = tf.constant(rng.standard_normal((N, -(-H // s), -(-W // s), o)).astype(np.float32))

        @tf.function
        def native(x, w, b, g, s=s, need_x=need_x):
            with tf.GradientTape() as tape:
                tape.watch([x, w, b] if need_x else [w, b])
                y = tf.nn.conv2d(x, w, s, "SAME") + b
            # y is returned too, so that graph pruning cannot drop the forward pass
            return y, tape.gradient(y, [x, w, b] if need_x else [w, b], output_gradients=g)

        def ours(x=x, w=w, b=b, g=g, s=s, need_x=need_x):
            y = K.conv2d(x, w, b, stride=s, padding="same", layout="NHWC")
            return y, K.conv2d_backward(g, x, w, stride=s, padding="same", layout="NHWC", need_x=need_x,
                                     need_bias=True)

        def ref(x=x, w=w, b=b, g=g, native=native):
            return native(x, w, b, g)

        out.append(Case(f"{name} fwd+bwd NHWC", f"{N}x{H}x{W}x{c} f32", ours, ref, "TF CPU (tf.function)", 0.8))
    return out


def cases(torch):
    return _torch_cases(torch) + _tf_cases()
