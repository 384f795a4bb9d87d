"""Tiny trained runs (serve.helpers.train_run) and live servers for the serve tests.

The data folder's name contains "fashion", so the runs carry Fashion-MNIST's class names
(twincore.data.load names classes from the folder).
"""

import gzip
import struct

import numpy as np
import pytest

from serve.helpers import train_run
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


def pytest_collection_modifyitems(config, items):
    """Without the `serve` extra (flask, waitress, pillow) these tests skip, saying so."""
    import importlib.util

    missing = [m for m in ("flask", "waitress", "PIL") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    mark = pytest.mark.skip(reason=f"needs {', '.join(missing)}: pip install 'twincore[serve]'")
    for item in items:
        if "tests/serve/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(mark)
