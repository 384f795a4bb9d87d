"""Optimizers of the native frontend: SGD (momentum, Nesterov) and Adam, updating
Variables in place with the core's fused step kernels (cpp/cpu/optim.h: one pass over
param, grad and the state buffers). The state buffers are core tensors too.

    opt = Adam(1e-3)
    opt.apply_gradients(zip(grads, model.trainable_variables))
"""

from __future__ import annotations

from typing import Iterable

from twincore import _core
from twincore.frontends.native.tensor import Tensor
from twincore.kernels import adam_step, sgd_step


def _zeros_like(v: Tensor):
    return _core.tape_zeros(v.shape, v.dtype.name)


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
    """torch.optim.SGD's rule (plain gradient descent when momentum is 0):
    buf = momentum * buf + g;  p -= lr * (g + momentum * buf if nesterov else buf)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(learning_rate)
        self.momentum, self.nesterov, self.weight_decay = float(momentum), bool(nesterov), float(weight_decay)

    def _step(self, g, v, slot):
        buf = None
        if self.momentum:
            buf = slot.get("momentum")
            if buf is None:
                buf = slot["momentum"] = _zeros_like(v)
        sgd_step(v._v, g._v, buf, lr=self.learning_rate, momentum=self.momentum,
                 weight_decay=self.weight_decay, nesterov=self.nesterov)


class Adam(Optimizer):
    """Adam (Kingma & Ba). flavor "torch" (default): p -= lr * m_hat / (sqrt(v_hat) + eps), as
    torch.optim.Adam; flavor "keras": keras.optimizers.Adam's arithmetic. epsilon defaults to
    Keras's 1e-7 (torch's is 1e-8)."""

    def __init__(self, learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, flavor: str = "torch"):
        super().__init__(learning_rate)
        if flavor not in ("torch", "keras"):
            raise ValueError(f"twincore.optimizer: argument 'flavor': expected 'torch' or 'keras', got {flavor!r}")
        self.beta_1, self.beta_2, self.epsilon, self.flavor = float(beta_1), float(beta_2), float(epsilon), flavor

    def _step(self, g, v, slot):
        if "m" not in slot:
            slot["m"], slot["v"], slot["t"] = _zeros_like(v), _zeros_like(v), 0
        slot["t"] += 1
        adam_step(v._v, g._v, slot["m"], slot["v"], slot["t"], lr=self.learning_rate, beta1=self.beta_1,
                  beta2=self.beta_2, eps=self.epsilon, flavor=self.flavor)
