"""Helpers shared by the JAX frontend tests."""
from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.test_util import check_grads

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def grads(f, args, eps=1e-6):
    """Reverse-mode gradients against finite differences in float64 (custom_vjp has no jvp)."""
    check_grads(f, args, order=1, modes=("rev",), eps=eps, atol=1e-6, rtol=1e-6)


def jit_equal(f, *args):
    """f eagerly and under jax.jit give the same bits."""
    eager = f(*args)
    jitted = jax.jit(f)(*args)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return eager


def raises(exc, op: str, arg: str):
    """pytest.raises for an error whose text names twincore.<op> and the argument."""
    return pytest.raises(exc, match=rf"twincore\.{op}\b.*argument '{arg}'")
