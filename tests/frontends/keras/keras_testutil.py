"""Helpers for the Keras frontend tests."""
from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import twincore.kernels as K
import twincore.keras as tk

import keras_test_models as models
from support import run_keras_backend


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


def _pred(p):
    return {k: p[k] for k in p.files} if "y" not in p.files else p["y"]


def _close(a, b, **tol):
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)
    else:
        np.testing.assert_allclose(a, b, **tol)


def round_trip_with_tf(out, backend: str) -> dict:
    """The test models between TensorFlow (this process) and Keras's torch or JAX backend
    (backend_run.py in a subprocess): each is trained here with our layers and saved to
    out/tf_<kind>.keras; then, on `backend`, the TF-saved models predict as they did here, our
    layers learn as Keras's own do from the same initial weights, and the models trained there
    predict the same when loaded here. Returns the run's {"<Layer>/<check>": outcome} of
    keras_layer_cases for the caller to assert (which layers must pass depends on the backend)."""
    data = models.datasets()
    tf_pred = {}
    for kind, (x, y) in data.items():
        model = getattr(models, kind)(tk)
        getattr(models, "compile_" + kind)(model, tk)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        model.save(out / f"tf_{kind}.keras")
        tf_pred[kind] = model.predict(x, verbose=0)

    run_keras_backend(backend, [os.path.join(os.path.dirname(__file__), "backend_run.py"), str(out)],
                      ok=f"{backend} backend ok")
    with open(out / f"{backend}_history.json") as f:
        hist = json.load(f)
    for kind, (x, _) in data.items():
        # TF-saved model, loaded and run on the backend: the same predictions
        _close(_pred(np.load(out / f"{backend}_pred_of_tf_{kind}.npz")), tf_pred[kind], rtol=1e-5, atol=1e-6)
        # trained on the backend: learns, as Keras's own layers do from the same initial weights
        ours = hist[f"{kind}/ours"]
        assert ours["loss"][-1] < ours["loss"][0] and np.isfinite(ours["val_loss"]).all()
        if kind != "rotation":  # (Keras has no CustomConv2D)
            native = hist[f"{kind}/keras"]
            for key in ours:
                np.testing.assert_allclose(ours[key], native[key], rtol=2e-4, err_msg=f"{kind} {key}")
        # saved on the backend, loaded and run on TF: the same predictions
        loaded = keras.models.load_model(out / f"{backend}_{kind}.keras")
        _close(loaded.predict(x, verbose=0), _pred(np.load(out / f"{backend}_pred_{kind}.npz")),
               rtol=1e-5, atol=1e-6)
    with open(out / f"{backend}_layer_tests.json") as f:
        return json.load(f)
