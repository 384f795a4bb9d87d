"""The Keras workload on Keras's JAX backend (frontends "keras-jax" and
"keras-jax-native"): no TensorFlow in the step.

The gradient step is jax.value_and_grad over model.stateless_call, jitted (our layers'
ops are XLA FFI calls, which jit compiles), so Keras's own layers (keras-jax-native) and
ours (keras-jax) run the same program shape. Keras fixes its backend when it is first
imported: `use_jax_keras()` picks JAX in a process that has not imported keras yet, and
`compare` runs these frontends in a child process (`run_child`) when its own keras is on
another backend.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np


def keras_backend_name() -> str | None:
    """The backend of an already imported keras, or None."""
    keras = sys.modules.get("keras")
    return None if keras is None else keras.backend.backend()


def use_jax_keras() -> None:
    """Make the coming `import keras` use JAX; ImportError if keras already runs on another backend."""
    current = keras_backend_name()
    if current is None:
        os.environ["KERAS_BACKEND"] = "jax"
    elif current != "jax":
        raise ImportError(f"keras is already imported on the {current} backend in this process "
                          "(its backend is fixed at import); run with KERAS_BACKEND=jax")


class JaxSteps:
    """The jitted gradient step and prediction of a KerasBackend whose keras runs on JAX.

    step(x, y) -> (loss, logits, grads) for the backend's `vars` (kernel, bias per layer);
    predict(x) -> outputs. The loss is the backend's own (`loss_of(out, y)`).
    """

    def __init__(self, model, train_vars, loss_of):
        import jax

        self.model = model
        ids = [id(v) for v in train_vars]
        trainable = model.trainable_variables
        order = {id(v): i for i, v in enumerate(trainable)}
        self._pick = [order[i] for i in ids]  # our vars' positions among the trainable ones

        def loss_fn(tv, ntv, x, y):
            out, _ = model.stateless_call(tv, ntv, x, training=True)
            loss, logits = loss_of(out, y)
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def step(tv, ntv, x, y):
            (loss, logits), grads = grad_fn(tv, ntv, x, y)
            return loss, logits, [grads[i] for i in self._pick]

        self._step = jax.jit(step)
        self._predict = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

    def _state(self):
        return ([v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables])

    def step(self, x, y):
        tv, ntv = self._state()
        return self._step(tv, ntv, x, y)

    def predict(self, x):
        tv, ntv = self._state()
        return self._predict(tv, ntv, x)


def run_child(frontend: str, spec, task, cfg, channels_last: bool):
    """Train `frontend` in a child process with KERAS_BACKEND=jax; returns (summary, weights)
    as `compare` collects them in-process."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.pkl"), os.path.join(tmp, "out.pkl")
        with open(src, "wb") as f:
            pickle.dump((frontend, spec, task, cfg, channels_last), f)
        env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run([sys.executable, "-m", "twincore.workloads.keras_jax", src, dst], env=env)
        if proc.returncode != 0 or not os.path.exists(dst):
            raise RuntimeError(f"twincore compare: the {frontend} child process failed (exit {proc.returncode})")
        with open(dst, "rb") as f:
            return pickle.load(f)


def _child(src: str, dst: str) -> None:
    from twincore.cli import make_backend
    from twincore.workloads.trainer import fit

    with open(src, "rb") as f:
        frontend, spec, task, cfg, channels_last = pickle.load(f)
    backend = make_backend(frontend, spec, cfg.seed, dtype=cfg.dtype, channels_last=channels_last)
    s = fit(spec, backend, task, cfg)
    weights = [np.asarray(backend.to_canonical(i, p)) for i, p in enumerate(backend.params)]
    with open(dst, "wb") as f:
        pickle.dump((s, weights), f)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
