"""Fused optimizer steps: SGD (momentum, nesterov) and Adam / AdamW, in place.

One parallel, vectorized pass reads param, grad and the state buffers once and
writes param and the buffers back. All arrays: same shape, same float dtype
(float32/float64), C-contiguous. param and the buffers are updated in place, so
they must be writable arrays of a mutable kind (NumPy, torch, CuPy); a torch
Parameter may be passed directly (its .data is updated). TensorFlow tensors are
immutable and are refused. State buffers start at zero (np.zeros_like(param)).
"""

from __future__ import annotations

import numpy as np

from twincore import _core
from twincore.kernels._array import kind_of, to_core


def _inplace(x, op: str, name: str):
    """The array itself (never a copy: the step writes into it)."""
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        if not x.flags.writeable:
            raise ValueError(f"twincore.{op}: argument '{name}': read-only array; the step updates it in place")
        return x
    mod = type(x).__module__
    if mod.startswith("torch"):
        return x.detach()  # shares memory with x
    if mod.startswith("tensorflow") or mod.startswith("tf"):
        raise TypeError(f"twincore.{op}: argument '{name}': TensorFlow tensors are immutable; "
                        "pass a NumPy/torch/CuPy array to update in place")
    return x


def _readable(x):
    # NumPy refuses to export read-only arrays by DLPack: read a copy of those.
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        return np.array(x)
    return to_core(x)


def sgd_step(param, grad, momentum_buf=None, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
             weight_decay: float = 0.0, nesterov: bool = False) -> None:
    """One SGD step, in place (torch.optim.SGD's rule):

        d = grad + weight_decay * param
        buf = momentum * buf + (1 - dampening) * d      (momentum != 0; buf starts at 0)
        d = d + momentum * buf if nesterov else buf     (momentum != 0)
        param -= lr * d

    momentum_buf: param's shape, zeros before the first step; needed when momentum != 0.
    Reproducing the frameworks:
      * torch.optim.SGD(lr, momentum, dampening, weight_decay, nesterov): the same
        arguments. torch's first step sets buf = d, which is what a zero buffer gives
        when dampening = 0; with dampening != 0 pass dampening=0 on the first step.
      * keras.optimizers.SGD(learning_rate, momentum, nesterov): lr=learning_rate,
        same momentum/nesterov (Keras keeps velocity = -lr * our buffer; for a
        constant lr the parameters are the same). Keras holds learning_rate and
        momentum as float32 even for float64 variables: to match a float64 Keras run
        pass lr=float(np.float32(lr)), momentum=float(np.float32(momentum)).
    """
    op = "sgd_step"
    _core.sgd_step(_inplace(param, op, "param"), _readable(grad), _inplace(momentum_buf, op, "momentum_buf"),
                   lr, momentum, dampening, weight_decay, nesterov, kind_of(param).alloc)


def adam_step(param, grad, m, v, step: int, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
              flavor: str = "torch") -> None:
    """One Adam step, in place. m, v: the first and second moments (zeros before the
    first step); step: 1-based count of this step (after the increment).

    flavor "torch" (torch.optim.Adam's arithmetic):
        m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2
        param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    flavor "keras" (keras.optimizers.Adam's arithmetic, step size in param's dtype):
        m += (g - m)(1 - beta1); v += (g^2 - v)(1 - beta2)
        param -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
    weight_decay: with decoupled_weight_decay=False, g = grad + weight_decay * param
    (L2, torch.optim.Adam); with True the parameter decays before the update:
    param *= 1 - lr * weight_decay ("torch", AdamW) / param -= param * weight_decay * lr
    ("keras").

    Reproducing the frameworks:
      * torch.optim.Adam(lr, betas=(beta1, beta2), eps, weight_decay): flavor="torch".
      * torch.optim.AdamW(lr, betas, eps, weight_decay): flavor="torch",
        decoupled_weight_decay=True (AdamW's default weight_decay is 0.01).
      * keras.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon, weight_decay):
        flavor="keras", eps=epsilon (Keras's default is 1e-7, not 1e-8),
        decoupled_weight_decay=True (Keras's weight decay is always decoupled),
        step = optimizer.iterations + 1. Like Keras, this flavor rounds lr, beta1,
        beta2 and weight_decay to float32 where Keras does (its learning-rate
        variable is float32 and it casts the betas through float32 tensors), so
        float64 parameters match Keras's float64 run too.
    """
    op = "adam_step"
    _core.adam_step(_inplace(param, op, "param"), _readable(grad), _inplace(m, op, "m"), _inplace(v, op, "v"),
                    step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, flavor, kind_of(param).alloc)
