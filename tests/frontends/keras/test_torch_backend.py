"""The same Keras layers on Keras's torch backend (in a subprocess: the backend is fixed
when keras is imported): training matches Keras's own layers there, models saved
under one backend load under the other with the same predictions, and Keras's run_layer_test
and the mixed_float16 / mixed_bfloat16 checks of keras_layer_cases pass for every layer."""
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



def _has_torch_frontend() -> bool:
    try:
        return has("torch") and has("twincore.frontends.torch.functional")
    except ImportError:  # the parent package is missing
        return False


pytestmark = [needs(*models.OPS), pytest.mark.skipif(not has("torch"), reason="needs torch"),
              pytest.mark.skipif(not _has_torch_frontend(), reason="the torch frontend has not landed yet")]
HERE = os.path.dirname(os.path.abspath(__file__))


def _pred(p):
    return {k: p[k] for k in p.files} if "y" not in p.files else p["y"]


def _close(a, b, **tol):
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)
    else:
        np.testing.assert_allclose(a, b, **tol)


def test_torch_backend_trains_and_shares_models_with_tf(tmp_path):
    (seq_x, seq_y), (fun_x, fun_y) = models.data()
    data = {"sequential": (seq_x, seq_y), "functional": (fun_x, fun_y), "rotation": (seq_x, seq_y)}
    tf_pred = {}
    for kind, (x, y) in data.items():
        model = getattr(models, kind)(tk)
        getattr(models, "compile_" + kind)(model, tk)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        model.save(tmp_path / f"tf_{kind}.keras")
        tf_pred[kind] = model.predict(x, verbose=0)

    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "torch_backend_run.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0 and "torch backend ok" in proc.stdout, proc.stderr[-4000:]

    with open(tmp_path / "torch_history.json") as f:
        hist = json.load(f)
    for kind, (x, _) in data.items():
        # TF-saved model, loaded and run on torch: the same predictions
        _close(_pred(np.load(tmp_path / f"torch_pred_of_tf_{kind}.npz")), tf_pred[kind], rtol=1e-5, atol=1e-6)
        # trained on torch: learns, as Keras's own layers do from the same initial weights
        ours = hist[f"{kind}/ours"]
        assert ours["loss"][-1] < ours["loss"][0] and np.isfinite(ours["val_loss"]).all()
        if kind != "rotation":  # (Keras has no CustomConv2D)
            native = hist[f"{kind}/keras"]
            for key in ours:
                np.testing.assert_allclose(ours[key], native[key], rtol=2e-4, err_msg=f"{kind} {key}")
        # torch-saved model, loaded and run on TF: the same predictions
        loaded = keras.models.load_model(tmp_path / f"torch_{kind}.keras")
        _close(loaded.predict(x, verbose=0), _pred(np.load(tmp_path / f"torch_pred_{kind}.npz")),
               rtol=1e-5, atol=1e-6)
    # Keras's run_layer_test and the mixed-precision checks, every layer (torch has every op)
    with open(tmp_path / "torch_layer_tests.json") as f:
        layer_tests = json.load(f)
    assert len(layer_tests) == 3 * len(cases.CASES) + len(cases.POLICIES) * len(cases.LOSSES)
    bad = {k: v for k, v in layer_tests.items() if v != "passed"}
    assert not bad, bad
