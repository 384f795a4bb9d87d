"""Tiny trained runs and live servers for the serve tests.

The runs are trained in-process by the trainer itself (workloads.trainer.fit), which
hands back the backend: its predictions on the test split are what the server must
answer bit for bit. The data folder's name contains "fashion", so the runs carry
Fashion-MNIST's class names (twincore.data.load names classes from the folder).
"""

import gzip
import struct

import numpy as np
import pytest

from twincore.serve.loadtest import start_server


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


@pytest.fixture(scope="session")
def fashion_tiny(tmp_path_factory):
    """Learnable MNIST-format data: class c is a bright bar at rows 2+2c..3+2c, plus noise."""
    path = tmp_path_factory.mktemp("tiny-fashion-mnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 600), ("t10k", 200)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 250
        _write_idx(path / f"{split}-images-idx3-ubyte.gz", x)
        _write_idx(path / f"{split}-labels-idx1-ubyte.gz", y)
    return str(path)


class Run:
    """A finished training run: its folder, its test split (raw uint8 and normalized), and
    the trainer's own test-set outputs (backend.predict, what trainer.evaluate calls)."""

    def __init__(self, out, spec, task, raw_test, outputs, summary):
        self.out, self.spec, self.task, self.raw_test = out, spec, task, raw_test
        self.outputs, self.summary = outputs, summary


def train_run(name, data, out, steps=20, batch=20, epochs=2, frontend="native"):
    from twincore import data as tcdata
    from twincore.cli import make_backend
    from twincore.workloads.specs import MODELS
    from twincore.workloads.tasks import load_task
    from twincore.workloads.trainer import RunConfig, fit

    spec = MODELS[name]
    task = load_task(spec, data, 0)
    backend = make_backend(frontend, spec)
    cfg = RunConfig(epochs=epochs, batch_size=batch, lr=spec.lr if name == "regression" else 3e-3,
                    max_steps=steps, progress=False, out=str(out))
    summary = fit(spec, backend, task, cfg)
    raw = None if spec.task == "regress" else tcdata.load(data).x_test
    return Run(str(out), spec, task, raw, backend.predict(task.test.x), summary)


@pytest.fixture(scope="session")
def mlp_run(fashion_tiny, tmp_path_factory):
    return train_run("mlp", fashion_tiny, tmp_path_factory.mktemp("runs") / "mlp")


@pytest.fixture(scope="session")
def cnn_run(fashion_tiny, tmp_path_factory):
    return train_run("cnn", fashion_tiny, tmp_path_factory.mktemp("runs") / "cnn", steps=15)


@pytest.fixture(scope="session")
def mlp_server(mlp_run):
    s = start_server(mlp_run.out, "native", workers=4)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def cnn_server(cnn_run):
    s = start_server(cnn_run.out, "native", workers=4)
    yield s
    s.stop()
