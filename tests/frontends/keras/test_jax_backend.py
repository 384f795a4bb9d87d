"""The same Keras layers on Keras's JAX backend (in a subprocess: the backend is fixed
when keras is imported): jitted training matches Keras's own layers there, models saved
under one backend load under the other with the same predictions, and Keras's own
run_layer_test (its mixed_float16 check on) and the mixed_float16 / mixed_bfloat16 checks of
keras_layer_cases pass for our layers. The sequence and GAN layers (LSTM, Embedding,
LeakyReLU, Conv2DTranspose, BatchNormalization, BinaryCrossentropy) match Keras's own on
JAX, outputs and gradients (jax_seq_gan_run.py). The JAX side of the round trip is
backend_run.py, shared with the torch backend's test."""
import json
import os

import keras
import numpy as np
import pytest

import keras_layer_cases as cases
import keras_test_models as models
from keras_testutil import needs, round_trip_with_tf
from support import has, run_keras_backend


def _jax_ffi_built() -> bool:
    from twincore import _core

    return bool(getattr(_core, "with_jax_ffi", False))


pytestmark = [needs(*models.OPS), pytest.mark.skipif(not has("jax"), reason="needs jax"),
              pytest.mark.skipif(not _jax_ffi_built(), reason="twincore built without the JAX FFI handlers")]
HERE = os.path.dirname(os.path.abspath(__file__))


def _check_layer_tests(layer_tests):
    print(json.dumps(layer_tests, indent=1))  # which layers ran (-s); the others lack a JAX handler
    for name in ("Dense", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "CustomConv2D"):
        for check in ("run_layer_test",) + cases.POLICIES:
            assert layer_tests[f"{name}/{check}"] == "passed", (name, check, layer_tests[f"{name}/{check}"])
    assert not cases.failures(layer_tests), cases.failures(layer_tests)


def test_sequence_and_gan_layers_on_jax(tmp_path):
    proc = run_keras_backend("jax", [os.path.join(HERE, "jax_seq_gan_run.py"), str(tmp_path)], ok="jax seq gan ok")
    print(proc.stdout)
    # the models saved on JAX load on TensorFlow with the same predictions
    for name in ("gan_stack", "seq_model"):
        model = keras.models.load_model(tmp_path / f"{name}.keras")
        assert any(type(layer).__module__.startswith("twincore.") for layer in model.layers), name
        np.testing.assert_allclose(model.predict(np.load(tmp_path / f"{name}_x.npy"), verbose=0),
                                   np.load(tmp_path / f"{name}_pred.npy"), rtol=1e-5, atol=1e-6, err_msg=name)


def test_keras_run_layer_test_on_jax(tmp_path):
    run_keras_backend("jax", [os.path.join(HERE, "backend_run.py"), str(tmp_path), "--layers-only"],
                      ok="jax backend ok")
    with open(tmp_path / "jax_layer_tests.json") as f:
        _check_layer_tests(json.load(f))


@pytest.mark.slow
def test_jax_backend_trains_and_shares_models_with_tf(tmp_path):
    _check_layer_tests(round_trip_with_tf(tmp_path, "jax"))
