"""GradientTape: records the core ops run inside `with tape:` and differentiates them in C++.

    with GradientTape() as tape:
        loss = mse(model(x), y)
    grads = tape.gradient(loss, model.trainable_variables)

Variables (trainable tensors) are watched automatically; watch other tensors with
tape.watch(x). A tape can be asked once (it frees what it recorded), or many times
with persistent=True. Gradients of a tensor used twice, or of a parameter shared by
two layers, are summed. Sources the target does not depend on get None (or zeros
with unconnected_gradients="zero"). Higher-order gradients are not supported: the
backward pass is not itself recorded, and asking for a gradient of a computation an
outer tape is recording raises ValueError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twincore import _core
from twincore.frontends.native.tensor import Tensor, zeros


def _flatten(x: Any) -> tuple[list, Any]:
    """Sources may be one tensor, a list/tuple, or a dict of tensors; gradients come back alike."""
    if isinstance(x, Tensor):
        return [x], None
    if isinstance(x, dict):
        keys = list(x)
        return [x[k] for k in keys], ("dict", keys)
    if isinstance(x, (list, tuple)):
        return list(x), type(x)
    raise TypeError(f"twincore.gradient: argument 'sources': expected a Tensor, a list/tuple or a dict "
                    f"of Tensors, got {type(x).__name__}")


def _unflatten(flat: list, how: Any) -> Any:
    if how is None:
        return flat[0]
    if isinstance(how, tuple) and how[0] == "dict":
        return dict(zip(how[1], flat))
    return how(flat)


class GradientTape:
    """Records ops on Tensors while active; `gradient` runs the backward pass in C++."""

    def __init__(self, persistent: bool = False):
        self._tape = _core.Tape(persistent)

    def __enter__(self) -> "GradientTape":
        self._tape.push()
        return self

    def __exit__(self, *exc) -> bool:
        self._tape.pop()
        return False

    @property
    def persistent(self) -> bool:
        return self._tape.persistent

    def __len__(self) -> int:
        """Number of recorded nodes."""
        return len(self._tape)

    def watch(self, x: Any) -> None:
        """Track non-trainable tensors (one, a list, or a dict) so gradients flow to them."""
        for t in (x if isinstance(x, (list, tuple)) else list(x.values()) if isinstance(x, dict) else [x]):
            if not isinstance(t, Tensor):
                raise TypeError(f"twincore.watch: argument 'x': expected a Tensor, got {type(t).__name__}")
            self._tape.watch(t._v)

    def gradient(self, target: Tensor, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """d target / d sources, shaped like the sources (a Tensor, list, tuple or dict).

        target must be a scalar (one element) unless output_gradients (d loss / d target,
        target's shape and dtype) is given.
        """
        if not isinstance(target, Tensor):
            raise TypeError(f"twincore.gradient: argument 'target': expected a Tensor, got "
                            f"{type(target).__name__}")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError("twincore.gradient: argument 'unconnected_gradients': expected 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        flat, how = _flatten(sources)
        for s in flat:
            if not isinstance(s, Tensor):
                raise TypeError(f"twincore.gradient: argument 'sources': expected Tensors, got "
                                f"{type(s).__name__}")
        og = None
        if output_gradients is not None:
            og = output_gradients._v if isinstance(output_gradients, Tensor) else \
                _core.tape_var(np.ascontiguousarray(output_gradients, dtype=target.dtype))
        raw = self._tape.gradient(target._v, [s._v for s in flat], og)
        grads = []
        for s, g in zip(flat, raw):
            if g is None and unconnected_gradients == "zero":
                grads.append(zeros(s.shape, s.dtype))
            else:
                grads.append(None if g is None else Tensor(g))
        return _unflatten(grads, how)

    def reset(self) -> None:
        """Forget what was recorded; the tape can record again (and stays active if it was)."""
        active = self._tape.active
        if active:
            self._tape.pop()
        self._tape = _core.Tape(self._tape.persistent)
        if active:
            self._tape.push()
