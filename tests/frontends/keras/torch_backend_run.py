"""Run by test_torch_backend.py in a subprocess with KERAS_BACKEND=torch:

    python torch_backend_run.py DIR

1. loads the models the TF backend saved in DIR (tf_<kind>.keras) and writes their
   predictions on the shared data to DIR/torch_pred_of_tf_<kind>.npz;
2. trains each model with our layers and, from the same seed, with Keras's own layers,
   and writes both histories to DIR/torch_history.json;
3. saves our torch-trained models (torch_<kind>.keras) and their predictions
   (torch_pred_<kind>.npz) for the TF side to load;
4. runs Keras's own run_layer_test on our layers and the mixed_float16 / mixed_bfloat16 checks of
   keras_layer_cases (Keras skips its own mixed check on torch CPU; ours run), and writes each
   outcome to DIR/torch_layer_tests.json for the parent to assert.
"""
import json
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "torch"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_layer_cases as cases  # noqa: E402
import keras_test_models as models  # noqa: E402
import twincore.keras as tk  # noqa: E402
from twincore.frontends.keras.backend import impl  # noqa: E402

assert keras.backend.backend() == "torch" and tk.BACKEND == "torch"
out = sys.argv[1]
(seq_x, seq_y), (fun_x, fun_y) = models.data()
DATA = {"sequential": (seq_x, seq_y), "functional": (fun_x, fun_y), "rotation": (seq_x, seq_y)}


def save_pred(path, pred):
    np.savez(path, **(pred if isinstance(pred, dict) else {"y": pred}))


history = {}
for kind, (x, y) in DATA.items():
    loaded = keras.models.load_model(os.path.join(out, f"tf_{kind}.keras"))
    assert type(loaded.layers[1]).__module__.startswith("twincore."), type(loaded.layers[1])
    save_pred(os.path.join(out, f"torch_pred_of_tf_{kind}.npz"), loaded.predict(x, verbose=0))

    libs = [("ours", tk, tk)] + ([("keras", keras.layers, keras.losses)] if kind != "rotation" else [])
    for name, lib, losses in libs:
        model = getattr(models, kind)(lib)
        getattr(models, "compile_" + kind)(model, losses, jit_compile="auto")
        assert model.jit_compile is False
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
        history[f"{kind}/{name}"] = hist.history
        if name == "ours":
            model.save(os.path.join(out, f"torch_{kind}.keras"))
            save_pred(os.path.join(out, f"torch_pred_{kind}.npz"), model.predict(x, verbose=0))

with open(os.path.join(out, "torch_history.json"), "w") as f:
    json.dump(history, f)
with open(os.path.join(out, "torch_layer_tests.json"), "w") as f:
    json.dump(cases.run_all(tk, impl), f, indent=1)
print("torch backend ok")
