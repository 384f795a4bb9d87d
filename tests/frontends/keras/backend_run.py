"""Run by test_torch_backend.py and test_jax_backend.py in a subprocess with KERAS_BACKEND=torch
or jax (support.run_keras_backend):

    python backend_run.py DIR [--layers-only]

1. loads the models the TF backend saved in DIR (tf_<kind>.keras) and writes their
   predictions on the shared data to DIR/<backend>_pred_of_tf_<kind>.npz;
2. trains each model with our layers and, from the same seed, with Keras's own layers, and
   writes both histories to DIR/<backend>_history.json (on JAX Keras jits both train steps:
   our ops are XLA FFI calls; on torch it runs them eagerly);
3. saves our models trained here (<backend>_<kind>.keras) and their predictions
   (<backend>_pred_<kind>.npz) for the TF side to load;
4. runs Keras's own run_layer_test on our layers and the mixed_float16 / mixed_bfloat16 checks of
   keras_layer_cases (Keras skips its own mixed check on torch CPU; ours run), and writes each
   outcome to DIR/<backend>_layer_tests.json for the parent to assert (on JAX, layers whose ops
   have no JAX handler are "skipped").
--layers-only: step 4 alone.
"""
import json
import os
import sys

BACKEND = os.environ.get("KERAS_BACKEND")
assert BACKEND in ("torch", "jax"), BACKEND
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_layer_cases as cases  # noqa: E402
import keras_test_models as models  # noqa: E402
import twincore.keras as tk  # noqa: E402
from twincore.frontends.keras.backend import impl  # noqa: E402

assert keras.backend.backend() == BACKEND and tk.BACKEND == BACKEND
out = sys.argv[1]


def save_pred(path, pred):
    np.savez(path, **(pred if isinstance(pred, dict) else {"y": pred}))


history = {}
for kind, (x, y) in ({} if "--layers-only" in sys.argv else models.datasets()).items():
    loaded = keras.models.load_model(os.path.join(out, f"tf_{kind}.keras"))
    assert type(loaded.layers[1]).__module__.startswith("twincore."), type(loaded.layers[1])
    save_pred(os.path.join(out, f"{BACKEND}_pred_of_tf_{kind}.npz"), loaded.predict(x, verbose=0))

    libs = [("ours", tk, tk)] + ([("keras", keras.layers, keras.losses)] if kind != "rotation" else [])
    for name, lib, losses in libs:
        model = getattr(models, kind)(lib)
        getattr(models, "compile_" + kind)(model, losses, jit_compile="auto")
        assert model.jit_compile is (BACKEND == "jax"), (kind, name)  # on JAX XLA compiles our FFI calls
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
        history[f"{kind}/{name}"] = hist.history
        if name == "ours":
            model.save(os.path.join(out, f"{BACKEND}_{kind}.keras"))
            save_pred(os.path.join(out, f"{BACKEND}_pred_{kind}.npz"), model.predict(x, verbose=0))

if history:
    with open(os.path.join(out, f"{BACKEND}_history.json"), "w") as f:
        json.dump(history, f)
with open(os.path.join(out, f"{BACKEND}_layer_tests.json"), "w") as f:
    json.dump(cases.run_all(tk, impl), f, indent=1)
print(f"{BACKEND} backend ok")
