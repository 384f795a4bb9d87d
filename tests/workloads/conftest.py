import gzip
import struct

import numpy as np
import pytest


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small learnable MNIST-format folder: each class is a bright bar at its own rows, plus noise."""
    path = tmp_path_factory.mktemp("tinymnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 600), ("t10k", 200)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            x[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 250
        _write_idx(path / f"{split}-images-idx3-ubyte.gz", x)
        _write_idx(path / f"{split}-labels-idx1-ubyte.gz", y)
    return str(path)
