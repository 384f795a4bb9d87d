"""Load a run folder (or its checkpoint.npz) that `twincore train` wrote, and run the model.

The model is rebuilt from its spec by the same backend class the trainer uses
(twincore.workloads.<frontend>_backend) and its canonical weights are loaded the way the
trainer loads them (set_param(to_native(...)), commit()); predictions go through
backend.predict, the call the trainer's `evaluate` makes on the test set. So the native
frontend serves the very numbers the trainer reported, bit for bit, and imports neither
torch nor TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from twincore.data import FASHION_CLASSES

SERVE_FRONTENDS = ("native", "torch", "keras")


class ModelLoadError(ValueError):
    """The path is not a run folder / checkpoint that this twincore can serve; the message says why."""


@dataclass
class LoadedModel:
    spec: object                 # twincore.workloads.specs.Spec
    frontend: str                # the serving frontend
    backend: object
    classes: tuple[str, ...]     # class names (classifiers and multi-io), else ()
    meta: dict                   # the checkpoint's meta (trained-with frontend, step, epoch, ...)
    summary: dict | None         # summary.json next to the checkpoint, if any
    version: str                 # "<model>-step<k>-<sha256[:12] of the checkpoint>"
    dtype: np.dtype
    n_params: int
    param_shapes: list
    checkpoint: str
    load_seconds: float
    _lock: threading.Lock | None = field(default=None, repr=False)

    @property
    def task(self) -> str:
        return self.spec.task

    def predict(self, x: np.ndarray):
        """x: [N, 28, 28] images in [0, 1] (classify, multi-io) or [N, 1] inputs (regression), in
        self.dtype. Returns logits [N, classes], or (logits, brightness [N, 1]) for multi-io, or
        values [N, 1] for the regression model."""
        if self.task == "multi-io":
            x = (np.ascontiguousarray(x[:, :, :14]), np.ascontiguousarray(x[:, :, 14:]))  # as tasks._multi_io
        if self._lock is None:   # native: the C++ tape holds no shared state in inference (see app.py)
            return self.backend.predict(x)
        with self._lock:         # torch (model.eval() flips module state), keras (tf.function tracing)
            return self.backend.predict(x)


def _checkpoint_path(path: str) -> str:
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.npz")
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path} does not exist: give a run folder that `twincore train` wrote "
                             "(it holds checkpoint.npz) or the checkpoint.npz itself")
    return path


def _read_summary(ckpt: str) -> dict | None:
    p = os.path.join(os.path.dirname(ckpt), "summary.json")
    if not os.path.isfile(p):
        return None
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # a damaged summary only loses the page's training figures


def _classes(spec, summary: dict | None) -> tuple[str, ...]:
    if spec.task == "regress":
        return ()
    if summary and isinstance(summary.get("per_class"), dict) and len(summary["per_class"]) == 10:
        return tuple(summary["per_class"])  # the names of the data it was trained on, in label order
    return FASHION_CLASSES


def load_model(path: str, frontend: str = "native") -> LoadedModel:
    """Load a run folder or checkpoint.npz; raises ModelLoadError naming what is wrong."""
    from twincore.workloads.specs import MODELS, param_shapes
    from twincore.workloads.trainer import load_checkpoint

    if frontend not in SERVE_FRONTENDS:
        raise ModelLoadError(f"frontend {frontend!r}: choose from {', '.join(SERVE_FRONTENDS)}")
    t0 = time.perf_counter()
    ckpt = _checkpoint_path(path)
    try:
        meta, arrays = load_checkpoint(ckpt)
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(f"{ckpt}: not a twincore checkpoint ({e})") from None
    name = meta.get("model")
    if name not in MODELS:
        raise ModelLoadError(f"{ckpt}: unknown model {name!r} (this twincore serves {', '.join(MODELS)})")
    spec = MODELS[name]
    shapes = param_shapes(spec)
    weights = []
    for i, shape in enumerate(shapes):
        w = arrays.get(f"w{i}")
        if w is None or tuple(w.shape) != tuple(shape):
            raise ModelLoadError(f"{ckpt}: parameter w{i} has shape {None if w is None else w.shape}, "
                                 f"the {name} model needs {shape}")
        weights.append(w)
    dtype = np.dtype(weights[0].dtype)
    if dtype not in (np.float32, np.float64):
        raise ModelLoadError(f"{ckpt}: weights are {dtype}, expected float32 or float64")
    from twincore.cli import make_backend  # the trainer's factory (imports a framework only if asked)

    backend = make_backend(frontend, spec, seed=int(meta.get("seed", 0)), dtype=dtype.name)
    for i, w in enumerate(weights):  # as trainer.fit loads a checkpoint
        backend.set_param(i, backend.to_native(i, w))
    backend.commit()
    with open(ckpt, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    m = LoadedModel(spec=spec, frontend=frontend, backend=backend, classes=_classes(spec, _read_summary(ckpt)),
                    meta=meta, summary=_read_summary(ckpt), version=f"{name}-step{meta.get('step', 0)}-{digest}",
                    dtype=dtype, n_params=int(sum(int(np.prod(s)) for s in shapes)),
                    param_shapes=[list(s) for s in shapes], checkpoint=os.path.abspath(ckpt),
                    load_seconds=0.0, _lock=None if frontend == "native" else threading.Lock())
    probe = np.zeros((1, 1) if spec.task == "regress" else (1, 28, 28), dtype)
    m.predict(probe)  # warm-up: lazy builds and graph tracing happen here, not in the first request
    m.load_seconds = time.perf_counter() - t0
    return m


def describe(m: LoadedModel) -> dict:
    """What GET /model answers: the spec, parameters, checkpoint meta and training summary."""
    spec = asdict(m.spec)
    spec["layers"] = [{k: v for k, v in layer.items()  # only the fields that matter for each layer
                       if v not in (0, 0.0, None) and (k != "stride" or layer["kind"] in ("conv", "rotconv"))}
                      for layer in spec["layers"]]
    summary = None
    if m.summary is not None:
        summary = {k: v for k, v in m.summary.items() if k not in ("confusion",)}
    return {"name": m.spec.name, "version": m.version, "task": m.task, "serving_frontend": m.frontend,
            "trained_with": m.meta.get("frontend"), "step": m.meta.get("step"), "epoch": m.meta.get("epoch"),
            "dtype": m.dtype.name, "parameters": m.n_params, "parameter_shapes": m.param_shapes,
            "classes": list(m.classes), "input": input_doc(m), "spec": spec, "summary": summary,
            "checkpoint": m.checkpoint, "load_seconds": round(m.load_seconds, 4),
            "imported_frameworks": imported_frameworks()}


def input_doc(m: LoadedModel) -> str:
    if m.task == "regress":
        return "instances: numbers x (or [x]); answers the predicted y for each"
    return ("instances: 28x28 arrays (or flat 784) of 0-255 or 0-1 values, white item on black as in "
            "Fashion-MNIST, or base64 PNG/JPEG strings; or multipart image files")


def imported_frameworks() -> list[str]:
    """The big frameworks this process has imported (the native server should list none)."""
    return [name for name in ("torch", "tensorflow", "keras", "jax") if name in sys.modules]
