"""Helpers for the Keras frontend tests."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import twincore.kernels as K


def needs(*ops: str):
    """Skip until these kernels have landed in twincore.kernels."""
    missing = [op for op in ops if not hasattr(K, op)]
    return pytest.mark.skipif(bool(missing), reason=f"kernel(s) not landed yet: {', '.join(missing)}")


def has_ops(*ops: str) -> bool:
    return all(hasattr(K, op) for op in ops)


def value_and_grads(fn, inputs, graph: bool, seed: int = 7):
    """(y, [d sum(y * w) / d x for x in inputs]) with w random, eager or in a tf.function."""
    inputs = [tf.constant(x) for x in inputs]
    y0 = fn(*inputs)
    w = tf.constant(np.random.default_rng(seed).standard_normal(y0.shape), y0.dtype)

    def run(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = fn(*xs)
            loss = tf.reduce_sum(y * w)
        return y, tape.gradient(loss, list(xs))

    if graph:
        run = tf.function(run)
    y, g = run(*inputs)
    return y.numpy(), [None if gi is None else gi.numpy() for gi in g]


def assert_allclose(a, b, dtype, what="", scale=1.0):
    tol = dict(rtol=1e-4 * scale, atol=1e-5 * scale) if np.dtype(dtype) == np.float32 else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), err_msg=what, **tol)


def check_numeric_gradient(fn, inputs, delta=1e-6, atol=1e-6):
    """tf.test.compute_gradient (float64): analytic vs numeric Jacobians of fn."""
    inputs = [tf.constant(np.asarray(x, np.float64)) for x in inputs]
    theoretical, numerical = tf.test.compute_gradient(fn, inputs, delta=delta)
    for i, (t, n) in enumerate(zip(theoretical, numerical)):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=atol, err_msg=f"jacobian of input {i}")
