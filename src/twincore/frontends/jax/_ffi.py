"""How twincore's ops enter XLA: the FFI handlers compiled into _core (cpp/jax/), their
registration with JAX, and the one helper every op file uses to emit a call.

Each op asks the core for a plan first (`_core.jax_<op>_plan(shapes, dtypes, options)`):
the op's own C++ check runs on the shapes at trace time, raises the op's ValueError /
TypeError for bad input, and returns the output shapes and the resolved options (FFI
attributes). No shape rule is restated in Python.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from twincore import _core

AVAILABLE = bool(getattr(_core, "with_jax_ffi", False))


@functools.cache
def register() -> None:
    """Register every handler the core has, once per process, for each platform built."""
    if not AVAILABLE:
        raise ImportError("twincore.jax: this build of twincore._core has no JAX FFI handlers "
                          "(jax was not installed when it was compiled; reinstall twincore with jax present)")
    # "cpu" only today; a CUDA build would add _core.jax_handlers("CUDA") here.
    for platform in ("cpu",):
        for name, capsule in _core.jax_handlers(platform).items():
            jax.ffi.register_ffi_target(name, capsule, platform=platform)


def spec(x) -> tuple[tuple[int, ...], str]:
    """(shape, dtype name) of an array or tracer, as the plans take them."""
    return tuple(int(d) for d in x.shape), jnp.dtype(x.dtype).name


def attrs_key(plan: dict) -> tuple:
    """A plan's attributes as a hashable, typed key (int64 / float64 FFI attributes: Python
    ints would become int32 attributes when x64 is off)."""
    return tuple(sorted(plan["attrs"].items()))


def typed(attrs: tuple) -> dict[str, Any]:
    return {k: np.float64(v) if isinstance(v, float) else np.int64(v) for k, v in attrs}


def outs(plan: dict) -> tuple:
    """The plan's outputs as a hashable tuple ((shape, dtype), ...)."""
    return tuple((tuple(s), d) for s, d in plan["out"])


def sds(shape_dtype) -> jax.ShapeDtypeStruct:
    shape, dtype = shape_dtype
    return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))


def like(x) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def call(target: str, results: Sequence, args: Sequence, attrs: tuple, vmap_method: str = "sequential"):
    """jax.ffi.ffi_call(target) on args; results: ShapeDtypeStructs (a list gives a list)."""
    register()
    return jax.ffi.ffi_call(target, results, vmap_method=vmap_method)(*args, **typed(attrs))
