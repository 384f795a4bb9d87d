"""Tensor and Variable of the native frontend: core-owned arrays the tape can see.

A Tensor wraps a `_core.TapeVar`: a contiguous, 64-byte aligned float32/float64
(or integer) array owned by the C++ core. It is made from NumPy or any DLPack
array (one copy into core memory) and leaves without a copy: `np.from_dlpack(t)`,
`torch.from_dlpack(t)`, `t.numpy()` (a read-only view of the same memory).
A Variable is a trainable Tensor: every GradientTape watches it without being told.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twincore import _core


class Tensor:
    """An n-d array owned by the core. Shapes are row-major; arithmetic broadcasts as NumPy."""

    __slots__ = ("_v", "__weakref__")

    def __init__(self, value: Any, dtype: Any = None, trainable: bool = False):
        if isinstance(value, _core.TapeVar) and dtype is None:
            self._v = value
            value.trainable = value.trainable or trainable
            return
        if isinstance(value, Tensor):
            value = value._v
        if dtype is not None or not hasattr(value, "__dlpack__"):
            # Python numbers and lists default to float32, as in TF and torch.
            default = np.float32 if not isinstance(value, np.ndarray) else None
            value = np.asarray(value if not hasattr(value, "__dlpack__") else np.from_dlpack(value),
                               dtype=dtype if dtype is not None else default)
        self._v = _core.tape_var(value, trainable)

    # ---- what it is ----
    @property
    def shape(self) -> tuple[int, ...]:
        return self._v.shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._v.dtype)

    @property
    def ndim(self) -> int:
        return len(self._v.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._v.shape))

    @property
    def trainable(self) -> bool:
        return self._v.trainable

    def numpy(self) -> np.ndarray:
        """A read-only NumPy view of the same memory (no copy); .copy() it to keep it."""
        return np.from_dlpack(self._v)

    def item(self) -> float:
        return self.numpy().item()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        return self._v.__dlpack__()

    def __dlpack_device__(self):
        return self._v.__dlpack_device__()

    def __repr__(self) -> str:
        kind = "Variable" if self.trainable else "Tensor"
        return f"{kind}(shape={self.shape}, dtype={self.dtype.name},\n{self.numpy()!r})"

    def __len__(self) -> int:
        return self.shape[0]

    def assign(self, value: Any) -> "Tensor":
        """Copy `value` (same shape and dtype) into this tensor's memory in place."""
        if isinstance(value, Tensor):
            value = value._v
        elif not hasattr(value, "__dlpack__"):
            value = np.asarray(value, dtype=self.dtype)
        self._v.assign(value)
        return self

    # ---- arithmetic (recorded by active tapes); see ops.py ----
    def __add__(self, other):
        from twincore.frontends.native import ops
        return ops.add(self, other)

    def __radd__(self, other):
        from twincore.frontends.native import ops
        return ops.add(other, self)

    def __sub__(self, other):
        from twincore.frontends.native import ops
        return ops.sub(self, other)

    def __rsub__(self, other):
        from twincore.frontends.native import ops
        return ops.sub(other, self)

    def __mul__(self, other):
        from twincore.frontends.native import ops
        return ops.mul(self, other)

    def __rmul__(self, other):
        from twincore.frontends.native import ops
        return ops.mul(other, self)

    def __neg__(self):
        from twincore.frontends.native import ops
        return ops.mul(self, -1.0)

    def __truediv__(self, other):
        from twincore.frontends.native import ops
        if isinstance(other, (int, float)):
            return ops.mul(self, 1.0 / other)
        raise TypeError("twincore.div: argument 'b': only division by a Python number is supported")

    def __matmul__(self, other):
        from twincore.frontends.native import ops
        return ops.matmul(self, other)

    def reshape(self, *shape):
        from twincore.frontends.native import ops
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)


def Variable(value: Any, dtype: Any = None) -> Tensor:
    """A trainable Tensor (a parameter): watched by every GradientTape automatically."""
    return Tensor(value, dtype=dtype, trainable=True)


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """x as a Tensor: Tensors pass through; numbers take `like`'s dtype; arrays keep theirs."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, np.number)):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(x)


def constant(x: Any, dtype: Any = None) -> Tensor:
    return Tensor(x, dtype=dtype)


def zeros(shape, dtype="float32") -> Tensor:
    return Tensor(_core.tape_zeros(tuple(shape), np.dtype(dtype).name))
