"""Static output shapes, shared by the TF ops (set_shape in graph mode) and the
layers' compute_output_shape (Keras on torch builds models symbolically).

The shapes come from the core's own rules: the op runs on twincore.kernels.Meta arrays
(shape and dtype only, no kernel), so the window arithmetic, padding modes and checks
exist once, in C++. None stands for an unknown size and stays None: unknown sizes are
probed with two different values, and an output size that differs between the two
depends on them (unknown too).
"""

from __future__ import annotations

from typing import Callable, Sequence

import twincore.kernels as K

_PROBES = (4099, 4111)  # stand-ins for unknown sizes (larger than any kernel, small enough for int64 numel)


def pair(v, what: str = "value") -> tuple[int, int]:
    """An int or a pair of ints as (h, w) (the layers keep them as tuples in their config)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")


def core_shape(fn: Callable, *shapes: Sequence, dtype: str = "float32"):
    """The output shape of fn(*Meta arrays) -- fn calls a twincore.kernels op -- for input
    shapes that may hold None. One tuple (the first output if fn returns several)."""
    outs = []
    for probe in _PROBES:
        metas = [K.Meta(tuple(probe if d is None else int(d) for d in s), dtype) for s in shapes]
        y = fn(*metas)
        outs.append((y[0] if isinstance(y, tuple) else y).shape)
    a, b = outs
    return tuple(x if x == y else None for x, y in zip(a, b))
