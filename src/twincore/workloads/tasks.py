"""The data each document model trains on, as frontend-free NumPy arrays.

classify / multi-io: Fashion-MNIST (or any MNIST-format folder) from twincore.data;
regress: the x^2 toy, generated from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twincore import data as tcdata
from twincore.workloads.specs import Spec


@dataclass
class Split:
    x: object  # np.ndarray, or a tuple of arrays for multi-input models
    y: object

    def __len__(self) -> int:
        return len(self.x[0] if isinstance(self.x, tuple) else self.x)

    def take(self, idx) -> "Split":
        pick = lambda a: tuple(p[idx] for p in a) if isinstance(a, tuple) else a[idx]
        return Split(pick(self.x), pick(self.y))


@dataclass
class TaskData:
    train: Split
    val: Split | None
    test: Split
    classes: tuple[str, ...]
    source: str


def regression_toy(seed: int = 0, n: int = 200, noise: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """y = x^2 + N(0, noise^2) on n points uniform in [-0.5, 0.5]; shapes [n, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, (n, 1)).astype(np.float32)
    y = (x ** 2 + rng.normal(0.0, noise, (n, 1))).astype(np.float32)
    return x, y


def _multi_io(x: np.ndarray, y: np.ndarray) -> Split:
    """Two inputs (left and right image halves), two targets (class, mean brightness)."""
    bright = x.reshape(len(x), -1).mean(1, keepdims=True).astype(np.float32)
    return Split((np.ascontiguousarray(x[:, :, :14]), np.ascontiguousarray(x[:, :, 14:])), (y, bright))


def load_task(spec: Spec, data_path: str | None = None, seed: int = 0, limit_train: int | None = None,
              limit_test: int | None = None) -> TaskData:
    if spec.task == "regress":
        x, y = regression_toy(seed)
        return TaskData(Split(x, y), None, Split(x, y), (), "x^2 toy")
    if spec.task == "text":  # issue 16: IMDB reviews as padded word ids
        from twincore import text

        emb = next(layer for layer in spec.layers if layer.kind == "embedding")
        ds = text.load_text(data_path, num_words=emb.vocab, maxlen=spec.input_shape[0])
        (xt, yt), (xv, yv) = tcdata.split(ds.x_train, ds.y_train, spec.val if isinstance(spec.val, float)
                                          else min(spec.val, len(ds.x_train) // 5), seed=seed)
        xs, ys = ds.x_test, ds.y_test
        xt, yt = (xt[:limit_train], yt[:limit_train]) if limit_train else (xt, yt)
        xs, ys = (xs[:limit_test], ys[:limit_test]) if limit_test else (xs, ys)
        return TaskData(Split(xt, yt), Split(xv, yv) if len(xv) else None, Split(xs, ys), ds.classes, ds.source)
    ds = tcdata.load(data_path)
    x, y = tcdata.normalize(ds.x_train), ds.y_train
    val = spec.val if isinstance(spec.val, float) else min(spec.val, len(x) // 5)  # small data: 20% at most
    (xt, yt), (xv, yv) = tcdata.split(x, y, val, seed=seed)
    if limit_train:
        xt, yt = xt[:limit_train], yt[:limit_train]
    xs, ys = tcdata.normalize(ds.x_test), ds.y_test
    if limit_test:
        xs, ys = xs[:limit_test], ys[:limit_test]
    make = _multi_io if spec.task == "multi-io" else Split
    return TaskData(make(xt, yt), make(xv, yv) if len(xv) else None, make(xs, ys), ds.classes, ds.source)
