"""Batch normalization: training (batch statistics), inference (running statistics), its
gradients, and the running-statistics update -- the arithmetic of torch's BatchNorm and Keras's
BatchNormalization (the frontends map their conventions onto these).

x: [N, C], or images [N, C, H, W] (layout "NCHW") / [N, H, W, C] ("NHWC"); statistics over every
axis but C. gamma, beta: [C] or None. var is the biased (1/M) batch variance.
CUDA arrays run the GPU plans of cpp/gpu/batch_norm.cc (kernels/cuda/batch_norm.cu).
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def batch_norm(x, gamma=None, beta=None, eps: float = 1e-5, layout: str = "NCHW"):
    """Training mode: (y, mean [C], var [C]); y = (x - mean) / sqrt(var + eps) * gamma + beta."""
    x, kind = prepare(x)
    return kind.wrap(_core.batch_norm(x, to_core(gamma), to_core(beta), eps, layout, kind.alloc))


def batch_norm_inference(x, gamma, beta, running_mean, running_var, eps: float = 1e-5, layout: str = "NCHW"):
    """Inference mode: y with the given (running) statistics."""
    x, kind = prepare(x)
    return kind.wrap(_core.batch_norm_inference(x, to_core(gamma), to_core(beta), to_core(running_mean),
                                                to_core(running_var), eps, layout, kind.alloc))


def batch_norm_backward(grad, x, gamma, mean, var, eps: float = 1e-5, layout: str = "NCHW", need_x: bool = True,
                        need_gamma: bool = True, need_beta: bool = True):
    """(dx, dgamma, dbeta) of the training forward, from its mean and var; None where not needed."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.batch_norm_backward(grad, to_core(x), to_core(gamma), to_core(mean), to_core(var), eps,
                                               layout, bool(need_x), bool(need_gamma), bool(need_beta), kind.alloc))


def batch_norm_update_stats(running_mean, running_var, mean, var, momentum: float, count: int,
                            unbiased: bool = True):
    """(new running mean, new running var) = (1 - momentum) * running + momentum * batch, with the batch
    variance made unbiased (count / (count - 1), torch) or kept biased (Keras: momentum = 1 - its 0.99).
    count: values per channel in the batch (N*H*W)."""
    running_mean, kind = prepare(running_mean)
    return kind.wrap(_core.batch_norm_update_stats(running_mean, to_core(running_var), to_core(mean), to_core(var),
                                                   momentum, int(count), bool(unbiased), kind.alloc))
