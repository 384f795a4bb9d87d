"""The same Keras layers on Keras's JAX backend (in a subprocess: the backend is fixed
when keras is imported): jitted training matches Keras's own layers there, models saved
under one backend load under the other with the same predictions, and Keras's own
run_layer_test (its mixed_float16 check on) and the mixed_float16 / mixed_bfloat16 checks of
keras_layer_cases pass for our layers. The sequence and GAN layers (LSTM, Embedding,
LeakyReLU, Conv2DTranspose, BatchNormalization, BinaryCrossentropy) match Keras's own on
JAX, outputs and gradients (jax_seq_gan_run.py)."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import twincore.keras as tk

import keras_layer_cases as cases
import keras_test_models as models
from keras_testutil import needs
from support import has


def _jax_ffi_built() -> bool:
    from twincore import _core

    return bool(getattr(_core, "with_jax_ffi", False))


pytestmark = [needs(*models.OPS), pytest.mark.skipif(not has("jax"), reason="needs jax"),
              pytest.mark.skipif(not _jax_ffi_built(), reason="twincore built without the JAX FFI handlers")]
HERE = os.path.dirname(os.path.abspath(__file__))


def _pred(p):
    return {k: p[k] for k in p.files} if "y" not in p.files else p["y"]


def _close(a, b, **tol):
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)
    else:
        np.testing.assert_allclose(a, b, **tol)


def _run(out, *flags):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "jax_backend_run.py"), str(out), *flags],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and "jax backend ok" in proc.stdout, proc.stderr[-4000:]


def _check_layer_tests(out):
    with open(out / "jax_layer_tests.json") as f:
        layer_tests = json.load(f)
    print(json.dumps(layer_tests, indent=1))  # which layers ran (-s); the others lack a JAX handler
    for name in ("Dense", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "CustomConv2D"):
        for check in ("run_layer_test",) + cases.POLICIES:
            assert layer_tests[f"{name}/{check}"] == "passed", (name, check, layer_tests[f"{name}/{check}"])
    assert not cases.failures(layer_tests), cases.failures(layer_tests)
    return layer_tests


def test_sequence_and_gan_layers_on_jax(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "jax_seq_gan_run.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    print(proc.stdout)
    assert proc.returncode == 0 and "jax seq gan ok" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-4000:]
    # the models saved on JAX load on TensorFlow with the same predictions
    for name in ("gan_stack", "seq_model"):
        model = keras.models.load_model(tmp_path / f"{name}.keras")
        assert any(type(layer).__module__.startswith("twincore.") for layer in model.layers), name
        np.testing.assert_allclose(model.predict(np.load(tmp_path / f"{name}_x.npy"), verbose=0),
                                   np.load(tmp_path / f"{name}_pred.npy"), rtol=1e-5, atol=1e-6, err_msg=name)


def test_keras_run_layer_test_on_jax(tmp_path):
    _run(tmp_path, "--layers-only")
    _check_layer_tests(tmp_path)


@pytest.mark.slow
def test_jax_backend_trains_and_shares_models_with_tf(tmp_path):
    (seq_x, seq_y), (fun_x, fun_y) = models.data()
    data = {"sequential": (seq_x, seq_y), "functional": (fun_x, fun_y), "rotation": (seq_x, seq_y)}
    tf_pred = {}
    for kind, (x, y) in data.items():
        model = getattr(models, kind)(tk)
        getattr(models, "compile_" + kind)(model, tk)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        model.save(tmp_path / f"tf_{kind}.keras")
        tf_pred[kind] = model.predict(x, verbose=0)

    _run(tmp_path)
    with open(tmp_path / "jax_history.json") as f:
        hist = json.load(f)
    for kind, (x, _) in data.items():
        # TF-saved model, loaded and run on JAX: the same predictions
        _close(_pred(np.load(tmp_path / f"jax_pred_of_tf_{kind}.npz")), tf_pred[kind], rtol=1e-5, atol=1e-6)
        # trained on JAX (jitted): learns, as Keras's own layers do from the same initial weights
        ours = hist[f"{kind}/ours"]
        assert ours["loss"][-1] < ours["loss"][0] and np.isfinite(ours["val_loss"]).all()
        if kind != "rotation":  # (Keras has no CustomConv2D)
            native = hist[f"{kind}/keras"]
            for key in ours:
                np.testing.assert_allclose(ours[key], native[key], rtol=2e-4, err_msg=f"{kind} {key}")
        # JAX-saved model, loaded and run on TF: the same predictions
        loaded = keras.models.load_model(tmp_path / f"jax_{kind}.keras")
        _close(loaded.predict(x, verbose=0), _pred(np.load(tmp_path / f"jax_pred_{kind}.npz")),
               rtol=1e-5, atol=1e-6)
    _check_layer_tests(tmp_path)
