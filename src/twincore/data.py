"""Data for the document models: MNIST-format images from any folder, nothing downloaded.

The embedded default is Fashion-MNIST from Debian's package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist: 60,000 + 10,000 28x28 grey images, 10 classes),
a drop-in replacement for MNIST. Any folder of MNIST IDX files (gzipped or not), or a
keras-style mnist.npz (x_train, y_train, x_test, y_test), works the same way.

    ds = load("/usr/share/datasets/fashion-mnist")     # or load() for the default
    ds.x_train.shape == (60000, 28, 28), dtype uint8; ds.y_train int64 in [0, 10)
    train, val = split(ds.x_train, ds.y_train, val_size=5000, seed=0)
    for xb, yb in batches(x, y, batch_size=32, seed=0, epoch=0): ...
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
          "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_HINT = ("install Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, "
         "or `make data`), or pass --data with a folder of MNIST IDX files or a mnist.npz")


class DataError(ValueError):
    """Missing or corrupt data files; the message says what to install or pass."""


@dataclass
class Dataset:
    x_train: np.ndarray  # [N, 28, 28] uint8
    y_train: np.ndarray  # [N] int64
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str


_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (gzipped if it ends in .gz). Raises DataError if corrupt."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}; {_HINT}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number); {_HINT}")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header; {_HINT}")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype(_DTYPES[raw[2]])
    want = int(np.prod(dims)) * dt.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != want:
        raise DataError(f"{path}: expected {want} bytes of data for shape {dims}, found {len(body)} "
                        f"(truncated or corrupt); {_HINT}")
    return np.frombuffer(body, dt).reshape(dims).astype(dt.newbyteorder("="), copy=False)


def _find(folder: str, stem: str) -> str:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            return p
    raise DataError(f"no {stem}[.gz] in {folder}; {_HINT}")


def load(path: str | None = None) -> Dataset:
    """Load MNIST-format data from a folder of IDX files or a keras-style .npz file.

    path None means the embedded default (Fashion-MNIST from Debian's package).
    """
    path = path or os.environ.get("TWINCORE_DATA") or DEFAULT_DIR
    if path.endswith(".npz"):
        if not os.path.exists(path):
            raise DataError(f"{path} does not exist; {_HINT}")
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in _FILES}
        except (KeyError, ValueError, OSError) as e:
            raise DataError(f"{path}: not a keras-style mnist.npz with x_train, y_train, x_test, y_test ({e})") from None
    else:
        if not os.path.isdir(path):
            raise DataError(f"data folder {path} does not exist; {_HINT}")
        arrays = {k: read_idx(_find(path, stem)) for k, stem in _FILES.items()}
    for part in ("train", "test"):
        x, y = arrays["x_" + part], arrays["y_" + part]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{path}: {part} images {x.shape} and labels {y.shape} do not match "
                            f"([N, H, W] and [N] expected)")
    fashion = "fashion" in os.path.abspath(path).lower()
    n_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    classes = FASHION_CLASSES if fashion and n_classes == 10 else tuple(str(i) for i in range(n_classes))
    return Dataset(arrays["x_train"].astype(np.uint8, copy=False), arrays["y_train"].astype(np.int64),
                   arrays["x_test"].astype(np.uint8, copy=False), arrays["y_test"].astype(np.int64),
                   classes, path)


def normalize(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 [0, 255] -> float in [0, 1]."""
    return (np.asarray(x, dtype) / dtype(255.0)).astype(dtype, copy=False)


def one_hot(y: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros((len(y), n_classes), dtype)
    out[np.arange(len(y)), y] = 1
    return out


def split(x: np.ndarray, y: np.ndarray, val_size: int | float, seed: int = 0):
    """Shuffle deterministically from `seed` and split off a validation set.

    val_size: a count, or a fraction in (0, 1) (Keras's validation_split takes the *last*
    fraction without shuffling; we shuffle first so classes are balanced).
    Returns (x_train, y_train), (x_val, y_val).
    """
    n = len(x)
    k = int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if not 0 <= k < n:
        raise ValueError(f"split: argument 'val_size': {val_size} leaves no training data out of {n}")
    order = np.random.default_rng(seed).permutation(n)
    tr, va = order[k:], order[:k]
    return (x[tr], y[tr]), (x[va], y[va])


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The indices of each batch of one epoch: the same for every frontend given (seed, epoch)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0, epoch: int = 0) -> Iterator:
    for idx in batch_order(len(x), batch_size, seed, epoch):
        yield x[idx], y[idx]
