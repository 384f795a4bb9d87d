"""Run by test_jax_backend.py in a subprocess with KERAS_BACKEND=jax:

    python jax_backend_run.py DIR [--layers-only]

1. loads the models the TF backend saved in DIR (tf_<kind>.keras) and writes their
   predictions on the shared data to DIR/jax_pred_of_tf_<kind>.npz;
2. trains each model with our layers and, from the same seed, with Keras's own layers
   (Keras jits both train steps: our ops are XLA FFI calls), and writes both histories
   to DIR/jax_history.json;
3. saves our JAX-trained models (jax_<kind>.keras) and their predictions
   (jax_pred_<kind>.npz) for the TF side to load;
4. (alone with --layers-only) runs Keras's own run_layer_test on our layers (its mixed_float16 check on) and
   the mixed_float16 / mixed_bfloat16 checks of keras_layer_cases, and writes each outcome to
   DIR/jax_layer_tests.json (the parent asserts them; layers whose ops have no JAX handler are "skipped").
"""
import json
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "jax"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_layer_cases as cases  # noqa: E402
import keras_test_models as models  # noqa: E402
import twincore.keras as tk  # noqa: E402
from twincore.frontends.keras.backend import impl  # noqa: E402

assert keras.backend.backend() == "jax" and tk.BACKEND == "jax"
out = sys.argv[1]
(seq_x, seq_y), (fun_x, fun_y) = models.data()
DATA = {"sequential": (seq_x, seq_y), "functional": (fun_x, fun_y), "rotation": (seq_x, seq_y)}


def save_pred(path, pred):
    np.savez(path, **(pred if isinstance(pred, dict) else {"y": pred}))


history = {}
for kind, (x, y) in ({} if "--layers-only" in sys.argv else DATA).items():
    loaded = keras.models.load_model(os.path.join(out, f"tf_{kind}.keras"))
    assert type(loaded.layers[1]).__module__.startswith("twincore."), type(loaded.layers[1])
    save_pred(os.path.join(out, f"jax_pred_of_tf_{kind}.npz"), loaded.predict(x, verbose=0))

    libs = [("ours", tk, tk)] + ([("keras", keras.layers, keras.losses)] if kind != "rotation" else [])
    for name, lib, losses in libs:
        model = getattr(models, kind)(lib)
        getattr(models, "compile_" + kind)(model, losses, jit_compile="auto")
        assert model.jit_compile is True, (kind, name)  # XLA compiles our FFI calls
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
        history[f"{kind}/{name}"] = hist.history
        if name == "ours":
            model.save(os.path.join(out, f"jax_{kind}.keras"))
            save_pred(os.path.join(out, f"jax_pred_{kind}.npz"), model.predict(x, verbose=0))

if history:
    with open(os.path.join(out, "jax_history.json"), "w") as f:
        json.dump(history, f)


layer_tests = cases.run_all(tk, impl)
with open(os.path.join(out, "jax_layer_tests.json"), "w") as f:
    json.dump(layer_tests, f, indent=1)
print("jax backend ok")
