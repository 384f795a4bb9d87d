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
