"""batch_norm (training mode) and its running-statistics update as TF ops over the core.

batch_norm(x, gamma, beta, eps, layout="NHWC") -> (y, mean, var): the batch mean and biased
variance [C] come back for the moving averages and carry no gradient.
batch_norm_update_stats(moving_mean, moving_var, mean, var, momentum, count, unbiased) -> (new_mean,
new_var), the core's arithmetic (momentum in torch's convention: Keras's 0.99 is 0.01).
batch_norm_inference(x, gamma, beta, mean, var, eps, layout) -> y (with gradients for x, gamma, beta
through the affine map it is: y = x * k + b per channel).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, tensor


def batch_norm(x, gamma=None, beta=None, eps: float = 1e-3, layout: str = "NHWC"):
    op = "batch_norm"
    x = tensor(x, op, "x", rank=(2, 4))
    g = None if gamma is None else tensor(gamma, op, "gamma", rank=1)
    b = None if beta is None else tensor(beta, op, "beta", rank=1)
    c = x.shape[1] if x.shape.rank == 2 or layout == "NCHW" else x.shape[3]
    stat = (x.dtype, tf.TensorShape([c]))
    flags = (g is not None, b is not None)

    def fwd(x, *p):
        it = iter(p)
        gg = next(it) if flags[0] else None
        bb = next(it) if flags[1] else None
        return K.batch_norm(x, gg, bb, eps, layout)

    params = [t for t in (g, b) if t is not None]

    @tf.custom_gradient
    def f(x, *params):
        y, mean, var = call(fwd, [x, *params], [(x.dtype, x.shape), stat, stat])

        def grad(dy, _dmean, _dvar):
            def bwd(dy, x, mean, var, *gg):
                dx, dg, db = K.batch_norm_backward(dy, x, gg[0] if gg else None, mean, var, eps, layout, True,
                                                   flags[0], flags[1])
                return [dx] + ([dg] if flags[0] else []) + ([db] if flags[1] else [])

            specs = [(x.dtype, x.shape)] + [stat] * len(params)
            res = call(bwd, [dy, x, mean, var] + ([params[0]] if flags[0] else []), specs)
            return res if isinstance(res, list) else [res]

        return (y, mean, var), grad

    return f(x, *params)


def batch_norm_update_stats(moving_mean, moving_var, mean, var, momentum: float, count: int, unbiased: bool):
    mm = tensor(moving_mean, "batch_norm_update_stats", "running_mean", rank=1)
    spec = (mm.dtype, mm.shape)
    return call(lambda a, b, c, d: K.batch_norm_update_stats(a, b, c, d, momentum, count, unbiased),
                [mm, tensor(moving_var, "batch_norm_update_stats", "running_var", rank=1), mean, var], [spec, spec])


def batch_norm_inference(x, gamma, beta, mean, var, eps: float = 1e-3, layout: str = "NHWC"):
    """Inference with given statistics. Its gradient w.r.t. x is the per-channel scale (a Keras model
    evaluated with training=False may still be differentiated); gamma and beta get none."""
    op = "batch_norm_inference"
    x = tensor(x, op, "x", rank=(2, 4))
    gamma = None if gamma is None else tensor(gamma, op, "gamma", rank=1)
    beta = None if beta is None else tensor(beta, op, "beta", rank=1)
    mean, var = tensor(mean, op, "running_mean", rank=1), tensor(var, op, "running_var", rank=1)
    args = [t for t in (gamma, beta) if t is not None]
    flags = (gamma is not None, beta is not None)

    def fwd(x, mean, var, *p):
        it = iter(p)
        return K.batch_norm_inference(x, next(it) if flags[0] else None, next(it) if flags[1] else None, mean, var,
                                      eps, layout)

    @tf.custom_gradient
    def f(x):
        y = call(fwd, [x, mean, var, *args], [(x.dtype, x.shape)])

        def grad(dy):
            def bwd(dy, var, *g):  # dx = dy * gamma / sqrt(var + eps): the same map without the shift
                return K.batch_norm_inference(dy, g[0] if g else None, None, np.zeros_like(var), var, eps, layout)

            return call(bwd, [dy, var] + ([gamma] if flags[0] else []), [(x.dtype, x.shape)])

        return y, grad

    return f(x)
