"""Tiny trained runs (serve.helpers.train_run) and live servers for the serve tests.

The data folder's name contains "fashion", so the runs carry Fashion-MNIST's class names
(twincore.data.load names classes from the folder).
"""

import pytest

from support import write_tiny_mnist

from serve.helpers import train_run
from twincore.serve.loadtest import start_server


@pytest.fixture(scope="session")
def fashion_tiny(tmp_path_factory):
    """Learnable MNIST-format data: class c is a bright bar at rows 2+2c..3+2c, plus noise."""
    return write_tiny_mnist(tmp_path_factory.mktemp("tiny-fashion-mnist"))


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
