"""Optimizers of the native frontend: SGD (momentum, Nesterov) and Adam, updating
Variables in place.

    opt = Adam(1e-3)
    opt.apply_gradients(zip(grads, model.trainable_variables))
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from twincore.frontends.native.tensor import Tensor


class Optimizer:
    def __init__(self, learning_rate: float):
        if not learning_rate > 0:
            raise ValueError(f"twincore.optimizer: argument 'learning_rate': must be > 0, got {learning_rate}")
        self.learning_rate = float(learning_rate)
        self._slots: dict[int, dict] = {}
        self.iterations = 0

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Tensor | None, Tensor]]) -> None:
        """One step for each (gradient, variable); None gradients are skipped."""
        self.iterations += 1
        for g, v in grads_and_vars:
            if g is None:
                continue
            if g.shape != v.shape:
                raise ValueError(f"twincore.optimizer: argument 'grads': gradient shape {g.shape} "
                                 f"does not match the variable's {v.shape}")
            self._step(g, v, self._slots.setdefault(id(v), {}))

    def apply(self, grads, variables) -> None:
        self.apply_gradients(zip(grads, variables))


class SGD(Optimizer):
    """v = momentum * v + g; p -= lr * (g + momentum * v if nesterov else v) (torch's rule;
    plain gradient descent when momentum is 0)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _step(self, g, v, slot):
        p, gr = v.numpy(), g.numpy()
        if self.momentum:
            buf = slot.get("m")
            buf = gr.copy() if buf is None else self.momentum * buf + gr
            slot["m"] = buf
            gr = gr + self.momentum * buf if self.nesterov else buf
        v.assign(p - self.learning_rate * gr)


class Adam(Optimizer):
    """Adam (Kingma & Ba), torch's formulation: p -= lr * m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _step(self, g, v, slot):
        p, gr = v.numpy(), g.numpy()
        if "m" not in slot:
            slot["m"], slot["v"], slot["t"] = np.zeros_like(p), np.zeros_like(p), 0
        slot["t"] += 1
        t, m, s = slot["t"], slot["m"], slot["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * gr
        s *= self.beta_2
        s += (1 - self.beta_2) * gr * gr
        m_hat = m / (1 - self.beta_1 ** t)
        v_hat = s / (1 - self.beta_2 ** t)
        v.assign((p - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)).astype(p.dtype))
