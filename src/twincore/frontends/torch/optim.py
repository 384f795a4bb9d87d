"""SGD and Adam whose step runs twincore's fused kernels (one call per parameter:
twincore.kernels.sgd_step / adam_step(flavor="torch")), in place on the parameters.

They subclass torch.optim.SGD / torch.optim.Adam, so constructor arguments, param_groups,
state and state_dict are torch's own (state "momentum_buffer"; "step", "exp_avg",
"exp_avg_sq"): a state_dict saved from one loads into the other. Only step() differs.
Not supported (ValueError at construction): maximize, amsgrad, capturable, differentiable,
fused, sparse gradients.
"""

from __future__ import annotations

import torch
from torch.optim.optimizer import _get_scalar_dtype

import twincore.kernels as K
from twincore.frontends.torch._common import bad


def _refuse(op: str, **flags) -> None:
    for name, value in flags.items():
        if value:
            raise bad(op, name, f"{name}=True is not supported by twincore's fused step")


def _grad(p: torch.Tensor, op: str) -> torch.Tensor:
    g = p.grad
    if g.is_sparse:
        raise bad(op, "grad", "sparse gradients are not supported", TypeError)
    return g


def _closure_loss(closure):
    """torch.optim's step(closure): re-evaluate the loss (with gradients on) before the update."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class SGD(torch.optim.SGD):
    """torch.optim.SGD (lr, momentum, dampening, weight_decay, nesterov) on twincore.kernels.sgd_step."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _refuse("sgd_step", maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=False, foreach=foreach, differentiable=False, fused=None)

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            _refuse("sgd_step", maximize=group["maximize"])
            lr, momentum = float(group["lr"]), float(group["momentum"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p, "sgd_step")
                dampening = float(group["dampening"])
                buf = None
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # torch starts the buffer at the first gradient (no dampening):
                        # the kernel's buf = momentum * 0 + (1 - 0) * grad gives exactly that.
                        buf = state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                        dampening = 0.0
                K.sgd_step(p, grad, buf, lr=lr, momentum=momentum, dampening=dampening,
                           weight_decay=float(group["weight_decay"]), nesterov=bool(group["nesterov"]))
        return loss


class Adam(torch.optim.Adam):
    """torch.optim.Adam (lr, betas, eps, weight_decay, decoupled_weight_decay) on
    twincore.kernels.adam_step(flavor="torch")."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _refuse("adam_step", amsgrad=amsgrad, maximize=maximize, capturable=capturable,
                differentiable=differentiable, fused=fused)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=False,
                         foreach=foreach, maximize=False, capturable=False, differentiable=False, fused=None,
                         decoupled_weight_decay=decoupled_weight_decay)

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            _refuse("adam_step", amsgrad=group["amsgrad"], maximize=group["maximize"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p, "adam_step")
                state = self.state[p]
                if len(state) == 0:  # the same lazy state as torch.optim.Adam
                    state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                state["step"] += 1
                K.adam_step(p, grad, state["exp_avg"], state["exp_avg_sq"], int(state["step"].item()),
                            lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                            weight_decay=float(group["weight_decay"]),
                            decoupled_weight_decay=bool(group["decoupled_weight_decay"]), flavor="torch")
        return loss
