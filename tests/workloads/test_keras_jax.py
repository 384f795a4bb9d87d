"""The Keras workload on Keras's JAX backend: it trains without TensorFlow (imports of
tensorflow are blocked in the child), and through our layers it computes what Keras's own
layers on JAX compute (float64, step by step)."""
import os
import subprocess
import sys

import pytest

from support import has

pytestmark = pytest.mark.skipif(not has("jax") or not has("keras"), reason="needs jax and keras")

CHILD = r"""
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
import numpy as np
from twincore.cli import make_backend
from twincore.workloads.specs import MODELS
from twincore.workloads.tasks import load_task
from twincore.workloads.trainer import RunConfig, fit

spec = MODELS[sys.argv[2]]
task = load_task(spec, sys.argv[1], 0, 300, 50)
cfg = RunConfig(epochs=1, batch_size=20, lr=1e-3, seed=0, progress=False, max_steps=6, dtype="float64")
runs = {}
for f in ("keras-jax", "keras-jax-native"):
    b = make_backend(f, spec, seed=0, dtype="float64")
    assert b.name == f, b.name
    runs[f] = fit(spec, b, task, cfg)["step_losses"]
assert len(runs["keras-jax"]) == 6
np.testing.assert_allclose(runs["keras-jax"], runs["keras-jax-native"], rtol=float(sys.argv[3]))
assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None
print("keras-jax ok", runs["keras-jax"][0], runs["keras-jax"][-1])
"""


def _ffi_built() -> bool:
    from twincore import _core

    return bool(getattr(_core, "with_jax_ffi", False))


@pytest.mark.skipif(not _ffi_built(), reason="twincore built without the JAX FFI handlers")
# lstm: Keras's own LSTM on JAX is not float64-exact (its step-1 gradients differ from the
# float64 tape's by ~2e-7 relative, where ours equal the tape's bit for bit), and Adam carries
# that into the later losses: 1e-7 there, 1e-9 for the models without it.
@pytest.mark.parametrize("model,rtol", [("cnn", 1e-9), ("multi-io", 1e-9), ("lstm", 1e-7)])
def test_keras_on_jax_trains_without_tensorflow(model, rtol, tiny_data):
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.run([sys.executable, "-c", CHILD, tiny_data, model, str(rtol)], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0 and "keras-jax ok" in proc.stdout, proc.stderr[-4000:]


GAN_CHILD = r"""
import json, os, sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
import numpy as np
from twincore.cli import main
from twincore.workloads import gan
from twincore.workloads.specs import MODELS
from twincore.workloads.tasks import load_task
from twincore.workloads.trainer import RunConfig

data, out = sys.argv[1], sys.argv[2]
# Keras's own layers on JAX vs ours (float64), measured: losses 6e-9 relative, samples 1e-4 (Adam
# amplifies the noise in the gradient of the bias before batch norm, which is ~0).
RTOL_NATIVE, ATOL_SAMPLES = 1e-7, 1e-3
# The command that failed before ("Cannot convert a symbolic tf.Tensor"): --frontend keras on KERAS_BACKEND=jax.
assert main(["train", "--model", "gan", "--frontend", "keras", "--data", data, "--epochs", "2", "--max-steps", "3",
             "--batch-size", "16", "--limit-test", "64", "--quiet", "--out", out]) == 0
s = json.load(open(os.path.join(out, "summary.json")))
assert s["frontend"] == "keras-jax" and s["steps"] == 6 and len(s["fd"]) == 3 and all(np.isfinite(s["fd"])), s
for name in ("samples_epoch0.png", "samples_epoch2.png", "curves.png", "fd.png", "checkpoint.npz"):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
# float64: our layers on JAX run the tape's kernels on the same numbers (the same weights, bit for bit);
# Keras's own layers on JAX agree to ~1e-8 (its float64 gradients differ by ~1e-7 relative, and its
# loss's per-sample mean runs in float32 on JAX).
spec = MODELS["gan"]
task = load_task(spec, data, 0, 64, 16)
cfg = RunConfig(epochs=1, batch_size=16, lr=2e-4, seed=0, progress=False, max_steps=4, dtype="float64")
runs = {f: gan.fit_gan(spec, gan.make_gan_backend(f, spec, 0, "float64"), task, cfg, None, grid=16)
        for f in ("native", "keras-jax", "keras-jax-native")}
ours, tape, ref = runs["keras-jax"], runs["native"], runs["keras-jax-native"]
assert ours["weights"][0].dtype == np.float64 and ours["samples"].dtype == np.float64
for key in ("d_losses", "g_losses"):
    np.testing.assert_allclose(ours[key], tape[key], rtol=1e-14, err_msg=key)
    np.testing.assert_allclose(ref[key], ours[key], rtol=RTOL_NATIVE, err_msg=key)
for i, (a, b) in enumerate(zip(ours["weights"], tape["weights"])):
    np.testing.assert_array_equal(a, b, err_msg=f"parameter {i}")
np.testing.assert_array_equal(ours["samples"], tape["samples"])
np.testing.assert_allclose(ref["samples"], ours["samples"], atol=ATOL_SAMPLES)
assert not np.array_equal(ours["weights"][0], gan.init_weights(spec, 0, np.float64)[0])  # it did train
for f, r in runs.items():
    print(f, "loss", max(abs(np.array(r["d_losses"] + r["g_losses"]) / (ours["d_losses"] + ours["g_losses"]) - 1)),
          "samples", np.abs(r["samples"] - ours["samples"]).max())
assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None
print("keras-jax gan ok", ours["d_losses"][-1], ours["g_losses"][-1])
"""


@pytest.mark.skipif(not _ffi_built(), reason="twincore built without the JAX FFI handlers")
def test_gan_on_keras_jax_trains_without_tensorflow(tiny_data, tmp_path):
    """`twincore train --model gan --frontend keras` on KERAS_BACKEND=jax (samples per epoch, curves,
    Frechet distance) with TensorFlow blocked; in float64 our layers' GAN equals Keras's own on JAX."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.run([sys.executable, "-c", GAN_CHILD, tiny_data, str(tmp_path / "gan")], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0 and "keras-jax gan ok" in proc.stdout, proc.stderr[-4000:]
