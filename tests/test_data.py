import gzip
import os
import struct

import numpy as np
import pytest

from twincore import data


def write_idx(path, arr, gz=True):
    arr = np.asarray(arr)
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    raw = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(raw)


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    xs = {k: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for k, n in (("train", 50), ("t10k", 20))}
    ys = {k: rng.integers(0, 10, n).astype(np.uint8) for k, n in (("train", 50), ("t10k", 20))}
    for k in xs:
        write_idx(tmp_path / f"{k}-images-idx3-ubyte.gz", xs[k])
        write_idx(tmp_path / f"{k}-labels-idx1-ubyte", ys[k], gz=False)  # plain and gzipped both read
    return tmp_path, xs, ys


def test_idx_round_trip(tiny):
    path, xs, ys = tiny
    ds = data.load(str(path))
    np.testing.assert_array_equal(ds.x_train, xs["train"])
    np.testing.assert_array_equal(ds.y_test, ys["t10k"].astype(np.int64))
    assert ds.y_train.dtype == np.int64


def test_npz(tmp_path, tiny):
    path, xs, ys = tiny
    np.savez(tmp_path / "mnist.npz", x_train=xs["train"], y_train=ys["train"], x_test=xs["t10k"], y_test=ys["t10k"])
    ds = data.load(str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(ds.x_test, xs["t10k"])


def test_missing_and_corrupt(tmp_path, tiny):
    with pytest.raises(data.DataError, match="dataset-fashion-mnist"):
        data.load(str(tmp_path / "nowhere"))
    path, xs, ys = tiny
    # truncate a file: clear message, no numpy reshape error
    p = path / "train-images-idx3-ubyte.gz"
    raw = gzip.open(p).read()
    with gzip.open(p, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.load(str(path))
    with gzip.open(p, "wb") as f:
        f.write(b"not an idx file at all")
    with pytest.raises(data.DataError, match="bad magic"):
        data.load(str(path))


def test_split_batches_deterministic():
    x = np.arange(100).reshape(100, 1)
    y = np.arange(100)
    (xt, yt), (xv, yv) = data.split(x, y, 0.2, seed=3)
    assert len(xv) == 20 and len(xt) == 80 and set(yt) | set(yv) == set(range(100)) and not set(yt) & set(yv)
    a = [b[1] for b in data.batches(xt, yt, 32, seed=1, epoch=2)]
    b = [b[1] for b in data.batches(xt, yt, 32, seed=1, epoch=2)]
    c = [b[1] for b in data.batches(xt, yt, 32, seed=1, epoch=3)]
    assert all((u == v).all() for u, v in zip(a, b)) and not all((u == v).all() for u, v in zip(a, c))
    assert [len(t) for t in a] == [32, 32, 16]
    np.testing.assert_allclose(data.normalize(np.array([0, 255], np.uint8)), [0.0, 1.0])
    np.testing.assert_array_equal(data.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.skipif(not os.path.isdir(data.DEFAULT_DIR), reason="dataset-fashion-mnist not installed")
def test_default_fashion_mnist():
    ds = data.load()
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.classes[0] == "T-shirt/top" and set(np.unique(ds.y_test)) == set(range(10))
    assert 60 < ds.x_train.mean() < 90  # real images, not zeros
